"""Prompts (语音文件): upload conversion, the prompt store, espeak-ng TTS, and the shipped default prompts."""
