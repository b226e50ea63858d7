// A slow and lossy link for the simulated cluster (launch/ci/netns-cluster-test.sh), for kernels
// without netem: iptables hands the packets to this program through an NFQUEUE, and it drops a
// given fraction of them and holds the others for a fixed delay before it accepts them. Packets
// leave in the order they came (one delay for all, so a FIFO). Put it on the incoming side
// (INPUT): delaying the outgoing side holds packets that the local TCP stack still owns, which
// stalls it rather than slowing it.
//
//   gcc -O2 -o link-faults link-faults.c -lnetfilter_queue -lnfnetlink   (Debian: libnetfilter-queue-dev)
//   iptables -A INPUT -i eth0 -j NFQUEUE --queue-num 7 --queue-bypass
//   link-faults 7 5 0.01 [SEED]       # queue 7: 5 ms of delay, 1% of the packets dropped
//
// It runs until SIGTERM or SIGINT, then accepts what it still holds and prints one line of counts
// (packets, dropped, most held at once) on standard output. The drops come from a fixed-seed
// generator, so two runs drop the same packets of the same stream.
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HELD_MAX 65536 // packets held at once; the kernel's queue is set to the same length

static struct {
    uint32_t id;
    int64_t release_ns;
} held[HELD_MAX];
static size_t held_first, held_count, held_most;
static int64_t delay_ns;
static double drop_fraction;
static uint64_t random_state, packets, dropped, overflows;
static volatile sig_atomic_t stopping;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// splitmix64, as a uniform double in [0, 1).
static double uniform(void) {
    uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

// Accepts the held packets whose delay is over (all of them when `all`).
static void release(struct nfq_q_handle *queue, int all) {
    int64_t now = now_ns();
    while (held_count > 0 && (all || held[held_first].release_ns <= now)) {
        nfq_set_verdict(queue, held[held_first].id, NF_ACCEPT, 0, NULL);
        held_first = (held_first + 1) % HELD_MAX;
        held_count--;
    }
}

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *message, struct nfq_data *data, void *context) {
    (void)message;
    (void)context;
    struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
    if (header == NULL) return 0;
    uint32_t id = ntohl(header->packet_id);
    packets++;
    if (uniform() < drop_fraction) {
        dropped++;
        return nfq_set_verdict(queue, id, NF_DROP, 0, NULL);
    }
    if (delay_ns == 0 || held_count == HELD_MAX) return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
    size_t slot = (held_first + held_count) % HELD_MAX;
    held[slot].id = id;
    held[slot].release_ns = now_ns() + delay_ns;
    if (++held_count > held_most) held_most = held_count;
    return 0;
}

static void on_signal(int signal) {
    (void)signal;
    stopping = 1;
}

static void fail(const char *what) {
    fprintf(stderr, "link-faults: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s QUEUE DELAY_MS DROP_FRACTION [SEED]\n", argv[0]);
        return 2;
    }
    char *end;
    long queue_number = strtol(argv[1], &end, 10);
    double delay_ms = strtod(argv[2], &end);
    if (*end != '\0' || delay_ms < 0 || delay_ms > 10000) {
        fprintf(stderr, "link-faults: DELAY_MS must be a number of milliseconds from 0 to 10000, got %s\n", argv[2]);
        return 2;
    }
    drop_fraction = strtod(argv[3], &end);
    if (*end != '\0' || !(drop_fraction >= 0 && drop_fraction < 1)) {
        fprintf(stderr, "link-faults: DROP_FRACTION must be in [0, 1), got %s\n", argv[3]);
        return 2;
    }
    random_state = argc == 5 ? strtoull(argv[4], NULL, 10) : 1;
    delay_ns = (int64_t)(delay_ms * 1e6);

    struct nfq_handle *handle = nfq_open();
    if (handle == NULL) fail("nfq_open");
    // Needed by old kernels; newer ones ignore these (and may answer with an error).
    nfq_unbind_pf(handle, AF_INET);
    nfq_bind_pf(handle, AF_INET);
    struct nfq_q_handle *queue = nfq_create_queue(handle, (uint16_t)queue_number, on_packet, NULL);
    if (queue == NULL) fail("nfq_create_queue (is another program on this queue?)");
    if (nfq_set_mode(queue, NFQNL_COPY_META, 0) < 0) fail("nfq_set_mode");
    nfq_set_queue_maxlen(queue, HELD_MAX);
    // When the kernel's queue is full, let packets through rather than add unplanned losses.
    nfq_set_queue_flags(queue, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    nfnl_rcvbufsiz(nfq_nfnlh(handle), 8 << 20);
    int fd = nfq_fd(handle);

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    printf("link-faults: queue %ld, delay %g ms, dropping %g of the packets\n", queue_number, delay_ms, drop_fraction);
    fflush(stdout);

    static char buffer[65536] __attribute__((aligned));
    while (!stopping) {
        int timeout_ms = -1;
        if (held_count > 0) {
            int64_t wait_ns = held[held_first].release_ns - now_ns();
            timeout_ms = wait_ns <= 0 ? 0 : (int)((wait_ns + 999999) / 1000000);
        }
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        int events = poll(&ready, 1, timeout_ms);
        if (events < 0 && errno != EINTR) fail("poll");
        if (events > 0) {
            // Everything the socket has now, without blocking.
            for (;;) {
                ssize_t length = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
                if (length < 0) {
                    // ENOBUFS: the socket was full and the kernel dropped packets it could not
                    // hand over; TCP resends them like any other loss.
                    if (errno == ENOBUFS) {
                        overflows++;
                        continue;
                    }
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                    fail("recv");
                }
                nfq_handle_packet(handle, buffer, (int)length);
            }
        }
        release(queue, 0);
    }
    release(queue, 1);
    printf("link-faults: %llu packets, %llu dropped, at most %zu held at once, %llu socket overflows\n",
           (unsigned long long)packets, (unsigned long long)dropped, held_most, (unsigned long long)overflows);
    nfq_destroy_queue(queue);
    nfq_close(handle);
    return 0;
}
