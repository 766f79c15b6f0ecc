"""IVR (语音导航): flow model, validation, the sans-IO interpreter, journey log, and the async side-effect
runner used on the live box."""
