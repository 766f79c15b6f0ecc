/* RTP load generator for bench/media_relay.py and bench/media_mix.py.
 *
 * A Python generator cannot send and receive 100,000 packets/s on the machine whose engine it measures, so
 * the benches compile this file with the system gcc at start and run it as the generator process.
 *
 * It sends 50 RTP packets/s (12-byte header + 160-byte A-law payload) to every engine port on 127.0.0.1 from
 * the UDP sockets it inherits from the bench (already bound, with SO_TIMESTAMPNS on; leg i uses socket
 * i mod S, as phones each have their own address), spreading each 20 ms period over 20 slots of 1 ms and
 * sending every slot with one sendmmsg per socket (a destination per message). Between slots it reads with
 * recvmmsg and takes each packet's kernel arrival time (SO_TIMESTAMPNS), so its own scheduling does not
 * count as jitter.
 *
 * Two ways to measure what comes back:
 *  relay  the engine forwards our payload untouched: bytes 12.. carry stream, sequence, step and the send time
 *         (CLOCK_REALTIME, the clock of the kernel's timestamps). Added jitter of a packet = its transit minus
 *         the smallest transit of its stream. Loss = packets sent in the window and not received by 200 ms
 *         after it.
 *  grid   the engine generates the packets (conference output) on its own 20 ms clock: per stream (SSRC),
 *         arrival minus RTP timestamp / 8000 (the RFC 3550 transit) above its minimum is how late a packet
 *         left against the grid; the bench computes loss from the packets the engine should have sent.
 *  srtp   relay, with every leg an SRTP phone (RFC 3711, libsrtp; built with -DLOADGEN_SRTP -lsrtp2): a leg
 *         protects what it sends with its own master key and salt and unprotects what it receives with the
 *         engine endpoint's, as two SDES peers do (RFC 4568 §6.1). The engine rewrites the SSRC, so a received
 *         packet is told to its leg by its source: the engine port it was sent from is the leg's own. A packet
 *         that fails authentication or the replay check is not received (it counts as lost) and is counted in
 *         auth_failures. Loss and jitter are then measured exactly as in relay mode, from the decrypted marks,
 *         but for where the send time is kept: every packet a leg will send (its mark carries stream, sequence
 *         and step) is protected before the clock starts, and the time each one leaves is written in a table,
 *         not in the packet. What comes back is kept as it arrives (bytes, kernel arrival time, leg) and
 *         unprotected, in arrival order, once the run is over; only then is it counted. Debian's libsrtp2
 *         (built on NSS) takes about 5 us per AES_CM protect and 7.5-14 us per unprotect here, so doing the
 *         phones' SRTP on the schedule made this program, not the engine, the first to run out of CPU on a
 *         2-core machine (it then fell behind and sent its late packets in bursts, which the engine queued).
 *         The packets on the wire, and the engine's work, are the same either way.
 *
 * Usage: media_loadgen FD[,FD...] MODE WARMUP SECONDS STEP [SUITE]
 * stdin: the engine ports on the first line, whitespace separated; in srtp mode then one line per leg, in the
 * ports' order, "TX RX": the master key and salt (hex) the leg sends with and the one the engine sends it with.
 * SUITE (srtp mode): AES_CM_128_HMAC_SHA1_80 (default) or AEAD_AES_128_GCM.
 * Output: "warm" when the warm-up ends and "done" when the measured window ends (the bench reads the engine's
 * CPU time at both), then one JSON line with the figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#ifdef LOADGEN_SRTP
#include <srtp2/srtp.h>
#define TRAILER SRTP_MAX_TRAILER_LEN
#define SRTP_SLOT (PACKET + 16) /* a protected packet: the largest tag of our suites (GCM's), no MKI */
#else
#define TRAILER 0
#endif

#define PAYLOAD 160
#define PACKET (12 + PAYLOAD)
#define SLOTS 20
#define BATCH 256

struct mark {            /* after the RTP header, in host order: only this program reads it */
    uint32_t stream, seq, step, pad;
    int64_t sent_ns;
};

static int64_t now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#ifdef LOADGEN_SRTP
/* one libsrtp session for a leg's direction: any outbound SSRC (what it sends) or any inbound (what it gets) */
static srtp_t srtp_session(const char *suite, const char *hex, srtp_ssrc_type_t type) {
    unsigned char key[SRTP_MAX_KEY_LEN];
    size_t len = strlen(hex) / 2;
    if (len > sizeof key) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return NULL;
        key[i] = (unsigned char)v;
    }
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (strcmp(suite, "AEAD_AES_128_GCM") == 0) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);  /* RFC 7714: 16-byte tag */
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
        if (len != 28) return NULL;
    } else {
        srtp_crypto_policy_set_rtp_default(&policy.rtp);  /* AES_CM_128_HMAC_SHA1_80 */
        srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
        if (len != 30) return NULL;
    }
    policy.ssrc.type = type;
    policy.key = key;
    policy.window_size = 128;
    srtp_t s = NULL;
    if (srtp_create(&s, &policy) != srtp_err_status_ok) return NULL;
    return s;
}
#endif

/* relay mode: what came back, counted by the marks */
struct tally {
    uint32_t step;
    int n;
    long long received;
    double *sample, *min_transit;
    int *sample_stream;
    size_t samples, max_samples;
    const int64_t *sent_at; /* srtp: send times by stream and sequence (<= 0: warm-up), else in the mark */
    int per_leg;
};

static void relay_take(struct tally *t, const unsigned char *b, unsigned len, int64_t arr) {
    struct mark m;
    if (len < 12 + sizeof m) return;
    memcpy(&m, b + 12, sizeof m);
    if (m.step != t->step || m.stream >= (uint32_t)t->n) return;
    int64_t sent_ns = m.sent_ns;
    if (t->sent_at) {
        if (m.seq >= (uint32_t)t->per_leg) return;
        sent_ns = t->sent_at[(size_t)m.stream * t->per_leg + m.seq];
        if (sent_ns <= 0) return; /* sent in the warm-up */
    }
    t->received++;
    double d = (double)(arr - sent_ns) * 1e-6;
    if (d < t->min_transit[m.stream]) t->min_transit[m.stream] = d;
    if (t->samples < t->max_samples) {
        t->sample[t->samples] = d;
        t->sample_stream[t->samples++] = (int)m.stream;
    }
}

#ifdef LOADGEN_SRTP
struct held { /* srtp: a packet as it arrived, unprotected after the run */
    int64_t arr;
    int leg;
    unsigned len;
    unsigned char data[256];
};
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* grid mode: SSRC -> stream index, open addressing */
static uint32_t *map_key;
static int *map_val;
static size_t map_size;

static int stream_of(uint32_t ssrc, int *count) {
    size_t h = (ssrc * 2654435761u) & (map_size - 1);
    while (map_val[h] >= 0) {
        if (map_key[h] == ssrc) return map_val[h];
        h = (h + 1) & (map_size - 1);
    }
    map_key[h] = ssrc;
    map_val[h] = (*count)++;
    return map_val[h];
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s FD[,FD...] relay|grid|srtp WARMUP SECONDS STEP [SUITE] < ports\n", argv[0]);
        return 2;
    }
    int fds[1024], nfd = 0;
    for (char *tok = strtok(argv[1], ","); tok && nfd < 1024; tok = strtok(NULL, ",")) fds[nfd++] = atoi(tok);
    if (nfd == 0) return 2;
    int srtp = strcmp(argv[2], "srtp") == 0;
    int relay = srtp || strcmp(argv[2], "relay") == 0;
#ifndef LOADGEN_SRTP
    if (srtp) {
        fprintf(stderr, "built without SRTP (-DLOADGEN_SRTP -lsrtp2)\n");
        return 2;
    }
#endif
    double warmup = atof(argv[3]), seconds = atof(argv[4]);
    uint32_t step = (uint32_t)atoi(argv[5]);

    int cap = 1024, n = 0;
    int *ports = malloc(sizeof(int) * cap);
    char *line = NULL;
    size_t line_cap = 0;
    if (getline(&line, &line_cap, stdin) < 0) return 2;
    for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
        if (n == cap) ports = realloc(ports, sizeof(int) * (cap *= 2));
        ports[n++] = atoi(tok);
    }
    if (n == 0) return 2;
#ifdef LOADGEN_SRTP
    /* engine port -> leg, to tell a received packet's leg by its source (the engine rewrote the SSRC) */
    int *leg_of_port = NULL;
    srtp_t *tx_srtp = NULL, *rx_srtp = NULL;
    if (srtp) {
        const char *suite = argc > 6 ? argv[6] : "AES_CM_128_HMAC_SHA1_80";
        if (srtp_init() != srtp_err_status_ok) return 3;
        tx_srtp = calloc(n, sizeof *tx_srtp);
        rx_srtp = calloc(n, sizeof *rx_srtp);
        leg_of_port = malloc(sizeof(int) * 65536);
        for (int i = 0; i < 65536; i++) leg_of_port[i] = -1;
        char txk[128], rxk[128];
        for (int i = 0; i < n; i++) {
            if (scanf("%127s %127s", txk, rxk) != 2) {
                fprintf(stderr, "srtp: keys for %d legs, not %d\n", i, n);
                return 2;
            }
            tx_srtp[i] = srtp_session(suite, txk, ssrc_any_outbound);
            rx_srtp[i] = srtp_session(suite, rxk, ssrc_any_inbound);
            if (!tx_srtp[i] || !rx_srtp[i]) {
                fprintf(stderr, "srtp: cannot key leg %d for %s\n", i, suite);
                return 3;
            }
            leg_of_port[ports[i] & 0xFFFF] = i;
        }
    }
#endif
    free(line);

    struct sockaddr_in *dst = calloc(n, sizeof *dst);
    unsigned char (*pkts)[PACKET] = calloc(n, PACKET);
    for (int i = 0; i < n; i++) {
        dst[i].sin_family = AF_INET;
        dst[i].sin_port = htons((uint16_t)ports[i]);
        dst[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        memset(pkts[i] + 12, 0xd5, PAYLOAD);
        pkts[i][0] = 0x80;
        pkts[i][1] = 8;
        uint32_t ssrc = htonl(0x5EED0000u + (uint32_t)i);
        memcpy(pkts[i] + 8, &ssrc, 4);
    }
#ifdef LOADGEN_SRTP
    /* srtp: every packet each leg sends (a slot per 1 ms of the run: at most (warm-up + window) x 50 per leg),
     * protected now, and the table of the times they leave (-1: in the warm-up, not measured) */
    int per_leg = srtp ? (int)((warmup + seconds) * 50.0) + 4 : 0;
    size_t total = (size_t)n * (size_t)per_leg;
    unsigned char *pre = srtp ? malloc(total * SRTP_SLOT) : NULL;
    uint16_t *pre_len = srtp ? malloc(total * sizeof *pre_len) : NULL;
    int64_t *sent_at = srtp ? calloc(total, sizeof *sent_at) : NULL;
    if (srtp && (!pre || !pre_len || !sent_at)) return 3;
    for (int i = 0; srtp && i < n; i++) {
        for (int s = 0; s < per_leg; s++) {
            unsigned char pk[PACKET + TRAILER];
            memcpy(pk, pkts[i], PACKET);
            uint16_t seq16 = htons((uint16_t)s);
            uint32_t ts = htonl((uint32_t)s * PAYLOAD);
            memcpy(pk + 2, &seq16, 2);
            memcpy(pk + 4, &ts, 4);
            struct mark m = {(uint32_t)i, (uint32_t)s, step, 0, 0};
            memcpy(pk + 12, &m, sizeof m);
            int len = PACKET;
            if (srtp_protect(tx_srtp[i], pk, &len) != srtp_err_status_ok || len > SRTP_SLOT) {
                fprintf(stderr, "srtp: cannot protect leg %d\n", i);
                return 3;
            }
            size_t idx = (size_t)i * per_leg + s;
            memcpy(pre + idx * SRTP_SLOT, pk, (size_t)len);
            pre_len[idx] = (uint16_t)len;
        }
    }
#endif

    /* samples: one per received packet in the window; relay streams = our legs, grid streams = engine SSRCs */
    size_t max_samples = (size_t)((seconds + 1.0) * 50.0 * n * 1.2) + 1024;
    double *sample = malloc(sizeof(double) * max_samples);
    int *sample_stream = malloc(sizeof(int) * max_samples);
    size_t samples = 0;
    int streams_cap = n * 2 + 16, grid_streams = 0;
    double *min_transit = malloc(sizeof(double) * streams_cap);
    uint32_t *first_ts = calloc(streams_cap, sizeof(uint32_t));
    for (int i = 0; i < streams_cap; i++) min_transit[i] = 1e300;
    map_size = 1;
    while (map_size < (size_t)streams_cap * 2) map_size <<= 1;
    map_key = calloc(map_size, sizeof(uint32_t));
    map_val = malloc(sizeof(int) * map_size);
    for (size_t i = 0; i < map_size; i++) map_val[i] = -1;

    struct mmsghdr *smsg = calloc(n, sizeof *smsg);
    struct iovec *siov = calloc(n, sizeof *siov);
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    static unsigned char rbuf[BATCH][2048];
    static char rctl[BATCH][64];
    static struct sockaddr_in rsrc[BATCH];
    memset(rmsg, 0, sizeof rmsg);

    uint32_t *seqs = calloc(n, sizeof(uint32_t));
    long long sent = 0, received = 0, send_errors = 0, auth_failures = 0, protect_errors = 0, unverified = 0;
    struct tally tally = {step, n, 0, sample, min_transit, sample_stream, 0, max_samples, NULL, 0};
#ifdef LOADGEN_SRTP
    size_t held_cap = srtp ? total + 4096 : 0, nheld = 0;
    struct held *held = srtp ? malloc(held_cap * sizeof *held) : NULL;
    if (srtp && !held) return 3;
    tally.sent_at = sent_at;
    tally.per_leg = per_leg;
#endif
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    int64_t warm_end = t0 + (int64_t)(warmup * 1e9);
    int64_t end = warm_end + (int64_t)(seconds * 1e9);
    int64_t win_start_rt = 0, win_end_rt = 0, win_start_mono = 0;
    int64_t drain_end = 0;
    int phase = warmup > 0 ? 0 : 1; /* 0 warm-up, 1 measuring, 2 stragglers */
    if (phase == 1) {
        win_start_rt = now_ns(CLOCK_REALTIME);
        win_start_mono = t0;
        printf("warm\n");
        fflush(stdout);
    }
    long long slot = 0;
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        if (phase == 0 && now >= warm_end) {
            phase = 1;
            win_start_rt = now_ns(CLOCK_REALTIME);
            win_start_mono = now;
            printf("warm\n");
            fflush(stdout);
        }
        if (phase == 1 && now >= end) {
            phase = 2;
            win_end_rt = now_ns(CLOCK_REALTIME);
            drain_end = now + 200000000LL;
            printf("done\n");
            fflush(stdout);
        }
        if (phase == 2 && now >= drain_end) break;
        int64_t slot_time = t0 + slot * 1000000LL;
        if (phase < 2 && now >= slot_time) {
            /* this slot's legs: i = slot % SLOTS, +SLOTS, ... */
            int k = 0;
            uint32_t tag = phase == 1 ? step : step + 1000000u;
            int64_t rt = now_ns(CLOCK_REALTIME);
            for (int f = 0; f < nfd; f++) {
            int first = k;
            for (int i = (int)(slot % SLOTS); i < n; i += SLOTS) {
                if (i % nfd != f) continue;
                uint32_t s = seqs[i]++;
#ifdef LOADGEN_SRTP
                if (srtp) {
                    if (s >= (uint32_t)per_leg) {  /* never: the table covers every slot of the run */
                        protect_errors++;
                        if (phase == 1) sent++;
                        continue;
                    }
                    size_t idx = (size_t)i * per_leg + s;
                    sent_at[idx] = phase == 1 ? rt : -1;
                    siov[k].iov_base = pre + idx * SRTP_SLOT;
                    siov[k].iov_len = pre_len[idx];
                    goto queue;
                }
#endif
                unsigned char *pk = pkts[i];
                uint16_t seq16 = htons((uint16_t)s);
                uint32_t ts = htonl(s * PAYLOAD);
                memcpy(pk + 2, &seq16, 2);
                memcpy(pk + 4, &ts, 4);
                struct mark m = {(uint32_t)i, s, tag, 0, rt};
                memcpy(pk + 12, &m, sizeof m);
                siov[k].iov_base = pk;
                siov[k].iov_len = PACKET;
#ifdef LOADGEN_SRTP
            queue:
#endif
                memset(&smsg[k].msg_hdr, 0, sizeof smsg[k].msg_hdr);
                smsg[k].msg_hdr.msg_name = &dst[i];
                smsg[k].msg_hdr.msg_namelen = sizeof dst[i];
                smsg[k].msg_hdr.msg_iov = &siov[k];
                smsg[k].msg_hdr.msg_iovlen = 1;
                k++;
            }
            int off = first;
            while (off < k) {
                int r = sendmmsg(fds[f], smsg + off, (unsigned)(k - off > 1024 ? 1024 : k - off), 0);
                if (r < 0) {
                    if (errno == EINTR) continue;
                    /* a refused destination (ICMP) or a full buffer: count the packet as sent and lost */
                    send_errors++;
                    r = 1;
                }
                off += r;
            }
            }
            if (phase == 1) sent += k;
            slot++;
            continue;
        }
        /* Read what arrived, then sleep on the clock until the next slot, never on the socket: a task asleep
         * on the socket is woken by each packet, and over loopback that wake-up (a cross-CPU interrupt) is
         * charged to the engine that sent the packet, which a phone on another host would not cost it. The
         * kernel's timestamps keep the arrival times exact however late we read. */
        for (int f = 0; f < nfd; f++) for (;;) {
            int fd = fds[f];
            for (int i = 0; i < BATCH; i++) {
                riov[i].iov_base = rbuf[i];
                riov[i].iov_len = sizeof rbuf[i];
                rmsg[i].msg_hdr.msg_iov = &riov[i];
                rmsg[i].msg_hdr.msg_iovlen = 1;
                rmsg[i].msg_hdr.msg_control = rctl[i];
                rmsg[i].msg_hdr.msg_controllen = sizeof rctl[i];
                rmsg[i].msg_hdr.msg_name = srtp ? &rsrc[i] : NULL;
                rmsg[i].msg_hdr.msg_namelen = srtp ? sizeof rsrc[i] : 0;
            }
            int r = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
            if (r <= 0) break;
            for (int i = 0; i < r; i++) {
                unsigned len = rmsg[i].msg_len;
                unsigned char *b = rbuf[i];
                int64_t arr = 0;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsg[i].msg_hdr); c; c = CMSG_NXTHDR(&rmsg[i].msg_hdr, c)) {
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                        struct timespec ts;
                        memcpy(&ts, CMSG_DATA(c), sizeof ts);
                        arr = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
                    }
                }
                if (!arr) arr = now_ns(CLOCK_REALTIME);
                if (len < 12) continue;
#ifdef LOADGEN_SRTP
                if (srtp) {
                    int leg = leg_of_port[ntohs(rsrc[i].sin_port)];
                    if (leg < 0) continue; /* not from an engine port of ours */
                    if (nheld == held_cap || len > sizeof held[0].data) {
                        unverified++; /* never: room for all a run sends; it would count as lost */
                        continue;
                    }
                    held[nheld].arr = arr;
                    held[nheld].leg = leg;
                    held[nheld].len = len;
                    memcpy(held[nheld++].data, b, len);
                    continue;
                }
#endif
                if (relay) {
                    relay_take(&tally, b, len, arr);
                } else {
                    if (phase != 1 || arr < win_start_rt) continue;
                    uint32_t ts, ssrc;
                    memcpy(&ts, b + 4, 4);
                    memcpy(&ssrc, b + 8, 4);
                    ts = ntohl(ts);
                    ssrc = ntohl(ssrc);
                    if (grid_streams >= streams_cap - 1) continue;
                    int s = stream_of(ssrc, &grid_streams);
                    if (first_ts[s] == 0) first_ts[s] = ts | 1u;
                    int32_t rel = (int32_t)(ts - (first_ts[s] & ~1u));
                    received++;
                    double t = (double)(arr - win_start_rt) * 1e-6 - rel / 8.0;
                    if (t < min_transit[s]) min_transit[s] = t;
                    if (samples < max_samples) {
                        sample[samples] = t;
                        sample_stream[samples++] = s;
                    }
                }
            }
            if (r < BATCH) break;
        }
        int64_t until = phase < 2 ? slot_time : drain_end;
        if (until > now_ns(CLOCK_MONOTONIC)) {
            if (phase == 2 && until > now + 1000000LL) until = now + 1000000LL;
            struct timespec ts = {until / 1000000000LL, until % 1000000000LL};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
            }
        }
    }
#ifdef LOADGEN_SRTP
    /* srtp: the phones unprotect what they got, in arrival order (replay windows see what they would have) */
    for (size_t h = 0; h < nheld; h++) {
        int plen = (int)held[h].len;
        if (srtp_unprotect(rx_srtp[held[h].leg], held[h].data, &plen) != srtp_err_status_ok) {
            auth_failures++; /* not authentic, or a replay: lost */
            continue;
        }
        relay_take(&tally, held[h].data, (unsigned)plen, held[h].arr);
    }
#endif
    if (relay) {
        received = tally.received;
        samples = tally.samples;
    }
    double wall = (double)(win_end_rt - win_start_rt) * 1e-9;
    (void)win_start_mono;
    for (size_t i = 0; i < samples; i++) sample[i] -= min_transit[sample_stream[i]];
    /* p99 per tenth of the run (in arrival order) before sorting, for the debug output */
    char deciles[512] = "";
    size_t tenth = samples / 10;
    if (tenth > 0) {
        double *tmp = malloc(sizeof(double) * tenth);
        int pos = 0;
        for (int d = 0; d < 10; d++) {
            memcpy(tmp, sample + d * tenth, sizeof(double) * tenth);
            qsort(tmp, tenth, sizeof(double), cmp_double);
            pos += snprintf(deciles + pos, sizeof deciles - pos, "%s%.2f", d ? ", " : "", tmp[(size_t)(tenth * 0.99)]);
        }
        free(tmp);
    }
    qsort(sample, samples, sizeof(double), cmp_double);
    double p50 = samples ? sample[(size_t)(samples * 0.50)] : -1;
    double p90 = samples ? sample[(size_t)(samples * 0.90)] : -1;
    double p99 = samples ? sample[(size_t)(samples * 0.99)] : -1;
    double mx = samples ? sample[samples - 1] : -1;
    printf("{\"sent\": %lld, \"received\": %lld, \"wall\": %.4f, \"samples\": %zu, \"send_errors\": %lld, "
           "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"streams\": %d, "
           "\"p99_per_tenth_ms\": [%s], \"auth_failures\": %lld, \"protect_errors\": %lld, \"unverified\": %lld}\n",
           sent, received, wall, samples, send_errors, p50, p90, p99, mx, relay ? n : grid_streams, deciles,
           auth_failures, protect_errors, unverified);
    fflush(stdout);
    return 0;
}
