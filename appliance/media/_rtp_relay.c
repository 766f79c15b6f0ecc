/* The media engine's compiled packet path: the per-packet work of relayed and mixed legs, in C.

   What it implements: for the RTP sockets Python hands over (appliance/media/fast_relay.py), one wake-up of
   the engine's epoll set reads one packet from each ready socket and, when it is a plain audio packet
   (RFC 3550 §5.1: version 2, no padding, extension or CSRC, the negotiated payload type) of the latched
   stream, in sequence:
     - updates the leg's receiver statistics (RFC 3550 A.1 sequence tracking, A.8 interarrival jitter),
       exactly as appliance.media.rtp.ReceiverStats.update does for an in-order packet;
     - RELAY legs: rewrites the 12-byte header for the other leg (its SSRC; sequence number and timestamp
       shifted by the offsets Python fixed at the first packet) and sends it on the other leg's connected
       socket, and keeps the last payload, so a switch to mixing seeds the jitter buffer without a gap;
     - UP legs (mixed, or relayed and tapped for a recording or in-band detection): passes the timestamp and
       payload up, for the leg's jitter buffer, which stays in Python.
   And once per 20 ms tick, for SEND legs (those the tick sends mixed audio, prompts or tones to), it sends
   the frames Python mixed and encoded, each with the next header of the leg's outgoing stream.
   Everything else (a socket Python keeps, a new SSRC, telephone events, RTCP on the RTP port, out-of-order or
   odd packets, a relayed stream's sequence or timestamp restarting or jumping) is handed back to Python:
   either the descriptor (Python reads it) or the packet read here.

   Why C: in Python each relayed packet costs about three microseconds of interpreter around the two system
   calls, about a third of all the engine's time; here it costs a few hundred nanoseconds. The logic stays in
   Python (latching, statistics beyond the in-order case, RTCP, DTMF, mixing); this file is the hot loop only.

   The boundary: no Python API is used; the library is loaded with ctypes and the leg table is a ctypes array
   that Python owns. `relay_abi` lists the layout of `relay_leg` (sizeof, every offsetof) and the constants
   both sides use, and fast_relay.py refuses the library unless they match its own. Every descriptor and row
   index handed in is checked before it is used: a bad one is refused and counted (and the work handed back to
   Python), never followed. Sends the kernel refuses are counted. The module init below only lets `import`
   find the file. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define RELAY_LAST_MAX 320 /* the last payload kept for a gapless switch to mixing: 40 ms of G.711 */
#define RELAY_MAX_EVENTS 1024
#define RELAY_PACKET_MAX 2048
#define MODE_RELAY 1
#define MODE_UP 2
#define MODE_SEND 4
#define FRAME 160
#define MAX_DROPOUT 3000 /* the relayed stream's course, as appliance/media/endpoint.py has it */
#define TS_STEP_MAX 2000
#define KIND_READ 0
#define KIND_PACKET 1
#define KIND_PAYLOAD 2
#define RECORD_WORDS 5 /* uint32 words per record of relay_drain */
#define DRAIN_COUNTS 5 /* ready, relayed, passed up, refused, send failures */
#define TICK_COUNTS 3  /* sent, refused, send failures */

/* One leg, indexed by its RTP socket's descriptor. Python writes the first block when it hands the leg over
   and reads the rest back when it takes the leg back (fast_relay.py mirrors this layout and checks it). */
typedef struct {
    int32_t mode;        /* MODE_RELAY | MODE_UP | MODE_SEND; without the first two Python reads the socket */
    int32_t target_fd;   /* the connected RTP socket of the leg the packets go to */
    uint32_t peer_ssrc;  /* the latched stream */
    uint32_t audio_pt;
    uint32_t out_ssrc;   /* the target leg's SSRC */
    uint32_t seq_off;    /* added to the sequence number, modulo 2^16 */
    uint32_t ts_off;     /* added to the timestamp, modulo 2^32 */
    uint32_t last_len;   /* receive side of this leg (RFC 3550 A.1, A.8) */
    uint32_t own_ssrc;   /* this leg's SSRC, for what the tick sends */
    uint32_t pad;
    int64_t max_seq;
    int64_t cycles;
    int64_t received;
    int64_t transit;
    double jitter;
    double last_rx;
    int64_t last_in_ts;  /* of the newest packet relayed: the course a relayed stream's timestamps are checked
                            against (Python writes it at hand-over) */
    int64_t out_seq;     /* send side of this leg: written when the other leg's packets are relayed into it
                            (out_tick = -1) or when the tick sends into it (out_tick = the tick) */
    int64_t out_ts;
    double out_time;
    int64_t tx_packets;
    int64_t tx_octets;
    int64_t out_tick;
    uint8_t last_payload[RELAY_LAST_MAX];
} relay_leg;

/* What Python checks at load: the layout of relay_leg and the constants both sides use. */
typedef struct {
    const char *name;
    int64_t value;
} relay_abi_entry;

#define LEG_FIELD(f) {"offsetof(relay_leg, " #f ")", (int64_t)offsetof(relay_leg, f)}
#define CONSTANT(c) {#c, (int64_t)(c)}

static const relay_abi_entry abi[] = {
    {"sizeof(relay_leg)", (int64_t)sizeof(relay_leg)},
    LEG_FIELD(mode), LEG_FIELD(target_fd), LEG_FIELD(peer_ssrc), LEG_FIELD(audio_pt), LEG_FIELD(out_ssrc),
    LEG_FIELD(seq_off), LEG_FIELD(ts_off), LEG_FIELD(last_len), LEG_FIELD(own_ssrc), LEG_FIELD(pad),
    LEG_FIELD(max_seq), LEG_FIELD(cycles), LEG_FIELD(received), LEG_FIELD(transit), LEG_FIELD(jitter),
    LEG_FIELD(last_rx), LEG_FIELD(last_in_ts), LEG_FIELD(out_seq), LEG_FIELD(out_ts), LEG_FIELD(out_time),
    LEG_FIELD(tx_packets), LEG_FIELD(tx_octets), LEG_FIELD(out_tick), LEG_FIELD(last_payload),
    CONSTANT(MODE_RELAY), CONSTANT(MODE_UP), CONSTANT(MODE_SEND), CONSTANT(RELAY_LAST_MAX),
    CONSTANT(RELAY_MAX_EVENTS), CONSTANT(RELAY_PACKET_MAX), CONSTANT(FRAME), CONSTANT(KIND_READ),
    CONSTANT(KIND_PACKET), CONSTANT(KIND_PAYLOAD), CONSTANT(RECORD_WORDS), CONSTANT(DRAIN_COUNTS),
    CONSTANT(TICK_COUNTS), CONSTANT(MAX_DROPOUT), CONSTANT(TS_STEP_MAX),
    {NULL, 0},
};

const relay_abi_entry *relay_abi(void) { return abi; }

/* Bytes 2-11 of an RTP header (RFC 3550 §5.1): sequence number, timestamp, SSRC, in network order. */
static inline void put_seq_ts_ssrc(uint8_t *packet, uint32_t seq, uint32_t ts, uint32_t ssrc) {
    packet[2] = (uint8_t)(seq >> 8);
    packet[3] = (uint8_t)seq;
    packet[4] = (uint8_t)(ts >> 24);
    packet[5] = (uint8_t)(ts >> 16);
    packet[6] = (uint8_t)(ts >> 8);
    packet[7] = (uint8_t)ts;
    packet[8] = (uint8_t)(ssrc >> 24);
    packet[9] = (uint8_t)(ssrc >> 16);
    packet[10] = (uint8_t)(ssrc >> 8);
    packet[11] = (uint8_t)ssrc;
}

/* Account for a packet of the leg's outgoing stream, as Python's Endpoint.sent does (tick -1: relayed). */
static inline void stream_sent(relay_leg *leg, uint32_t seq, uint32_t ts, double now, int64_t tick,
                               int64_t octets) {
    leg->out_seq = seq;
    leg->out_ts = ts;
    leg->out_time = now;
    leg->out_tick = tick;
    leg->tx_packets++;
    leg->tx_octets += octets;
}

/* One wake-up. Writes up to `out_cap` records of RECORD_WORDS uint32 each into `out`:
     (fd, KIND_READ, 0, 0, 0)             a ready socket Python reads itself;
     (fd, KIND_PACKET, offset, len, 0)    a packet read here and left to Python whole, copied to buf + offset;
     (fd, KIND_PAYLOAD, offset, len, ts)  the payload and RTP timestamp of a packet done here, for the leg's
                                          jitter buffer.
   Returns the number of records, or -errno when epoll_wait fails. Stops early when `buf` or `out` could
   overflow: the epoll set is level-triggered, so what is left is reported again at the next wake-up.
   `counts` (DRAIN_COUNTS) gets the number of ready sockets, the packets relayed here, the payloads passed up,
   the legs refused (a negative descriptor, or a relay target outside the table: the packet goes to Python
   whole), and the sends the kernel refused. */
int relay_drain(int epfd, relay_leg *legs, int nlegs, double now, int64_t units, uint32_t *out, int out_cap,
                uint8_t *buf, int buf_cap, int64_t *counts) {
    struct epoll_event events[RELAY_MAX_EVENTS];
    uint8_t packet[RELAY_PACKET_MAX];
    for (int k = 0; k < DRAIN_COUNTS; k++)
        counts[k] = 0;
    int n = epoll_wait(epfd, events, RELAY_MAX_EVENTS, 0);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int records = 0, used = 0;
    int64_t relayed = 0, up = 0, refused = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (records >= out_cap)
            break;
        uint32_t *rec = out + RECORD_WORDS * records;
        if (fd < 0)
            refused++; /* cannot be a socket of ours: Python reads (and drops) it */
        if (fd < 0 || fd >= nlegs || !(legs[fd].mode & (MODE_RELAY | MODE_UP))) {
            rec[0] = (uint32_t)fd;
            rec[1] = KIND_READ;
            rec[2] = rec[3] = rec[4] = 0;
            records++;
            continue;
        }
        if (buf_cap - used < RELAY_PACKET_MAX)
            break;
        relay_leg *leg = &legs[fd];
        ssize_t len = recv(fd, packet, sizeof packet, 0);
        if (len < 0)
            continue; /* nothing queued after all, or an ICMP error reported on the connected socket */
        if (len < 12)
            continue; /* not RTP: Python drops these too */
        uint8_t b0 = packet[0], b1 = packet[1];
        uint32_t seq = ((uint32_t)packet[2] << 8) | packet[3];
        uint32_t ts = ((uint32_t)packet[4] << 24) | ((uint32_t)packet[5] << 16) | ((uint32_t)packet[6] << 8)
                      | packet[7];
        uint32_t ssrc = ((uint32_t)packet[8] << 24) | ((uint32_t)packet[9] << 16) | ((uint32_t)packet[10] << 8)
                        | packet[11];
        uint32_t delta = (seq - (uint32_t)leg->max_seq) & 0xFFFF;
        int bad_target = (leg->mode & MODE_RELAY) && (leg->target_fd < 0 || leg->target_fd >= nlegs);
        refused += bad_target;
        /* a relayed stream whose timestamp goes back, or on by more than its sequence number explains, has
           restarted or jumped: Python starts its mapping afresh (Endpoint.remap) */
        int ts_jump = (leg->mode & MODE_RELAY) && (uint32_t)(ts - (uint32_t)leg->last_in_ts) > delta * TS_STEP_MAX;
        if (b0 != 0x80 || (uint32_t)(b1 & 0x7F) != leg->audio_pt || ssrc != leg->peer_ssrc || delta == 0
            || delta >= MAX_DROPOUT || bad_target || ts_jump) {
            memcpy(buf + used, packet, (size_t)len);
            rec[0] = (uint32_t)fd;
            rec[1] = KIND_PACKET;
            rec[2] = (uint32_t)used;
            rec[3] = (uint32_t)len;
            rec[4] = 0;
            records++;
            used += (int)len;
            continue;
        }
        /* RFC 3550 A.1 and A.8 for an in-order packet (the same arithmetic as ReceiverStats.update) */
        if ((int64_t)seq < leg->max_seq)
            leg->cycles += 0x10000;
        leg->max_seq = seq;
        leg->received++;
        int64_t transit = units - (int64_t)ts;
        int64_t d = transit - leg->transit;
        leg->transit = transit;
        if (d < 0)
            d = -d;
        leg->jitter += ((double)d - leg->jitter) * 0.0625;
        leg->last_rx = now;
        size_t payload = (size_t)len - 12;
        if (leg->mode & MODE_UP) {
            memcpy(buf + used, packet + 12, payload);
            rec[0] = (uint32_t)fd;
            rec[1] = KIND_PAYLOAD;
            rec[2] = (uint32_t)used;
            rec[3] = (uint32_t)payload;
            rec[4] = ts;
            records++;
            up++;
            used += (int)payload;
        }
        if (!(leg->mode & MODE_RELAY))
            continue;
        leg->last_in_ts = ts;
        leg->last_len = (uint32_t)(payload <= RELAY_LAST_MAX ? payload : 0);
        if (leg->last_len)
            memcpy(leg->last_payload, packet + 12, payload);
        /* the other leg's stream: same codec, so marker bit and payload type go through unchanged */
        uint32_t oseq = (seq + leg->seq_off) & 0xFFFF;
        uint32_t ots = ts + leg->ts_off;
        put_seq_ts_ssrc(packet, oseq, ots, leg->out_ssrc);
        /* a full buffer or an ICMP error from the peer: a lost packet, as on the wire (and counted) */
        if (send(leg->target_fd, packet, (size_t)len, MSG_DONTWAIT) < 0)
            failed++;
        stream_sent(&legs[leg->target_fd], oseq, ots, now, -1, (int64_t)payload);
        relayed++;
    }
    counts[0] = n;
    counts[1] = relayed;
    counts[2] = up;
    counts[3] = refused;
    counts[4] = failed;
    return records;
}

/* One tick's sends: sender i sends row rows[i] of `frames` (`nrows` rows of FRAME bytes) on socket fds[i]
   when it was handed over as a SEND leg; the indices of the others go to `skipped` for Python. Returns how
   many were skipped. The header follows the leg's stream as Python's Endpoint.next_out does on the tick
   grid. `counts` (TICK_COUNTS) gets the frames sent, the senders refused (a negative descriptor or a row
   outside `frames`: skipped, so Python sends them), and the sends the kernel refused. */
int relay_send_tick(relay_leg *legs, int nlegs, const int32_t *fds, const int32_t *rows, int n,
                    const uint8_t *frames, int nrows, int64_t tick, double now, int32_t *skipped,
                    int64_t *counts) {
    uint8_t packet[12 + FRAME];
    int k = 0;
    int64_t sent = 0, refused = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        int fd = fds[i];
        int bad = fd < 0 || rows[i] < 0 || rows[i] >= nrows;
        refused += bad;
        if (bad || fd >= nlegs || !(legs[fd].mode & MODE_SEND)) {
            skipped[k++] = i;
            continue;
        }
        relay_leg *leg = &legs[fd];
        int64_t gap = tick - leg->out_tick;
        if (gap < 1)
            gap = 1;
        uint32_t seq = (uint32_t)(leg->out_seq + 1) & 0xFFFF;
        uint32_t ts = (uint32_t)(leg->out_ts + gap * FRAME);
        packet[0] = 0x80;
        packet[1] = (uint8_t)leg->audio_pt;
        put_seq_ts_ssrc(packet, seq, ts, leg->own_ssrc);
        memcpy(packet + 12, frames + (size_t)rows[i] * FRAME, FRAME);
        /* a full buffer or an ICMP error from the peer: a lost packet, as on the wire (and counted) */
        if (send(fd, packet, sizeof packet, MSG_DONTWAIT) < 0)
            failed++;
        stream_sent(leg, seq, ts, now, tick, FRAME);
        sent++;
    }
    counts[0] = sent;
    counts[1] = refused;
    counts[2] = failed;
    return k;
}

static struct PyModuleDef relay_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_rtp_relay",
    .m_doc = "The media engine's compiled packet path (loaded with ctypes by fast_relay.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__rtp_relay(void) { return PyModule_Create(&relay_module); }
