// mqtt_peer.c: the two C libmosquitto clients of `vigil-bench e2e` and `vigil-bench latency`.
//
//   mqtt_peer pub HOST PORT QOS COUNT DEVICES RATE SPIKE_EVERY WARMUP
//     Publishes COUNT telemetry messages to devices/dev-NNNNNN/telemetry, device m % DEVICES for message m,
//     payloads like {"ts":1764072612003,"temperature":21.37,"humidity":45.12,"pressure":1013.2,"battery":3.71}
//     (about 90 bytes; each device has its own baselines and small uniform noise). RATE messages a second,
//     or as fast as the broker takes them for 0. With SPIKE_EVERY > 0, from a device's WARMUP-th message on,
//     every SPIKE_EVERY-th message of the device carries a temperature 60 degrees off its baseline.
//     At most WINDOW_QOS0 / WINDOW_QOS1 messages are outstanding, so the publisher's memory stays bounded. Prints `sent=N seconds=T rate=R` once every message is out.
//
//   mqtt_peer sub HOST PORT QOS FILTER COUNT IDLE_SECONDS SKIP
//     The raw subscriber: MQTT 5 with TCP_NODELAY like Vigil's client, subscribes to FILTER at QOS, prints
//     `ready` once subscribed, then counts messages and does nothing else with them. Stops at COUNT messages
//     or after IDLE_SECONDS without one; prints `received=N seconds=T rate=R cpu_seconds=C`: N counts every
//     message, T and C (the process's CPU time) run from message SKIP + 1 to the last, R is (N - SKIP) / T.
//
// Build:  cc -O2 -o mqtt_peer mqtt_peer.c -lmosquitto      (vigil-bench does this itself, in a temp dir)
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Outstanding messages at most: QoS 0, not yet written to the socket; QoS 1, not yet PUBACKed (libmosquitto
// keeps in-flight messages in a list it searches on every PUBACK, so a large QoS 1 window costs O(n) an ack).
#define WINDOW_QOS0 100000
#define WINDOW_QOS1 1000

static atomic_long done_count;  // pub: messages out (on_publish); sub: messages received
static atomic_int subscribed;
static atomic_int connected;
static long sub_target;
static double first_at, last_at, first_cpu;
static long skip;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc) {
    (void)mosq;
    (void)userdata;
    if (rc == 0) atomic_store(&connected, 1);
}

static void on_publish(struct mosquitto *mosq, void *userdata, int mid) {
    (void)mosq;
    (void)userdata;
    (void)mid;
    atomic_fetch_add(&done_count, 1);
}

static void on_subscribe(struct mosquitto *mosq, void *userdata, int mid, int count, const int *granted) {
    (void)mosq;
    (void)userdata;
    (void)mid;
    (void)count;
    (void)granted;
    atomic_store(&subscribed, 1);
}

static void on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *message) {
    (void)mosq;
    (void)userdata;
    (void)message;
    double now = now_seconds();
    long n = atomic_fetch_add(&done_count, 1) + 1;
    if (n == skip + 1) {
        struct timespec cpu;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        first_cpu = (double)cpu.tv_sec + (double)cpu.tv_nsec * 1e-9;
        first_at = now;
    }
    last_at = now;
}

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static struct mosquitto *make_client(int v5, const char *id) {
    struct mosquitto *mosq = mosquitto_new(id, 1, NULL);
    if (!mosq) {
        fprintf(stderr, "mosquitto_new failed\n");
        exit(1);
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(mosq, on_connect);
    return mosq;
}

static void wait_connected(void) {
    double deadline = now_seconds() + 10;
    while (!atomic_load(&connected)) {
        if (now_seconds() > deadline) {
            fprintf(stderr, "not connected after 10 s\n");
            exit(1);
        }
        usleep(1000);
    }
}

static int publish(const char *host, int port, int qos, long count, long devices, double rate, long spike_every,
                   long warmup) {
    struct mosquitto *mosq = make_client(0, "vigil-bench-pub");
    mosquitto_publish_callback_set(mosq, on_publish);
    long window = qos == 0 ? WINDOW_QOS0 : WINDOW_QOS1;
    mosquitto_max_inflight_messages_set(mosq, (unsigned)window);
    if (mosquitto_connect(mosq, host, port, 60) != MOSQ_ERR_SUCCESS || mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d\n", host, port);
        return 1;
    }
    wait_connected();
    // Per-device baselines, as the replay corpus has them.
    int32_t *base = malloc(sizeof(int32_t) * 4 * (size_t)devices);
    uint64_t rng = 42;
    for (long d = 0; d < devices; d++) {
        base[4 * d + 0] = 1500 + (int32_t)(splitmix(&rng) % 1500);  // centi-degrees
        base[4 * d + 1] = 3000 + (int32_t)(splitmix(&rng) % 3000);  // centi-percent
        base[4 * d + 2] = 9900 + (int32_t)(splitmix(&rng) % 400);   // deci-hPa
        base[4 * d + 3] = 330 + (int32_t)(splitmix(&rng) % 90);     // centi-volts
    }
    char topic[64];
    char payload[160];
    struct timespec wall;
    double start = now_seconds();
    for (long m = 0; m < count; m++) {
        if (rate > 0 && (m & 7) == 0) {
            double due = start + (double)m / rate;
            double now;
            while ((now = now_seconds()) < due) {
                if (due - now > 200e-6) usleep(100);
            }
        }
        while (m - atomic_load(&done_count) >= window) usleep(50);
        long d = m % devices;
        long step = m / devices;
        snprintf(topic, sizeof topic, "devices/dev-%06ld/telemetry", d);
        int32_t *b = base + 4 * d;
        uint64_t r = splitmix(&rng);
        int32_t t = b[0] + (int32_t)(r % 101) - 50;
        if (spike_every > 0 && step >= warmup && (step + d) % spike_every == 0) t += 6000;
        clock_gettime(CLOCK_REALTIME, &wall);
        long long ms = (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        int h = b[1] + (int32_t)((r >> 8) % 101) - 50;
        int p = b[2] + (int32_t)((r >> 16) % 11) - 5;
        int v = b[3] + (int32_t)((r >> 24) % 5) - 2;
        int length = snprintf(payload, sizeof payload,
                              "{\"ts\":%lld,\"temperature\":%d.%02d,\"humidity\":%d.%02d,\"pressure\":%d.%d,"
                              "\"battery\":%d.%02d}",
                              ms, t / 100, abs(t % 100), h / 100, h % 100, p / 10, p % 10, v / 100, v % 100);
        int rc;
        while ((rc = mosquitto_publish(mosq, NULL, topic, length, payload, qos, false)) == MOSQ_ERR_NOMEM)
            usleep(100);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "publish failed: %s\n", mosquitto_strerror(rc));
            return 1;
        }
    }
    double deadline = now_seconds() + 120;
    while (atomic_load(&done_count) < count && now_seconds() < deadline) usleep(500);
    double seconds = now_seconds() - start;
    long sent = atomic_load(&done_count);
    printf("sent=%ld seconds=%.6f rate=%.1f\n", sent, seconds, (double)sent / seconds);
    fflush(stdout);
    mosquitto_disconnect(mosq);
    mosquitto_loop_stop(mosq, false);
    mosquitto_destroy(mosq);
    free(base);
    return sent == count ? 0 : 1;
}

static int subscribe(const char *host, int port, int qos, const char *filter, long count, double idle) {
    // `skip` is set by main.
    sub_target = count;
    // A client id of its own, so that several subscribers (loadtest/bench/fanout) do not take over each other.
    char id[48];
    snprintf(id, sizeof id, "vigil-bench-sub-%d", (int)getpid());
    struct mosquitto *mosq = make_client(1, id);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_message_callback_set(mosq, on_message);
    if (mosquitto_connect(mosq, host, port, 60) != MOSQ_ERR_SUCCESS || mosquitto_loop_start(mosq) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d\n", host, port);
        return 1;
    }
    wait_connected();
    mosquitto_subscribe(mosq, NULL, filter, qos);
    while (!atomic_load(&subscribed)) usleep(1000);
    printf("ready\n");
    fflush(stdout);
    double waiting_since = now_seconds();
    long seen = 0;
    while (1) {
        usleep(1000);
        long n = atomic_load(&done_count);
        if (n >= count) break;
        if (n != seen) {
            seen = n;
            waiting_since = now_seconds();
        } else if (now_seconds() - waiting_since > idle) {
            break;
        }
    }
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    double cpu_seconds = (double)cpu.tv_sec + (double)cpu.tv_nsec * 1e-9 - first_cpu;
    mosquitto_disconnect(mosq);
    mosquitto_loop_stop(mosq, false);
    long n = atomic_load(&done_count);
    double seconds = n > skip + 1 ? last_at - first_at : 0;
    printf("received=%ld seconds=%.6f rate=%.1f cpu_seconds=%.6f\n", n, seconds,
           seconds > 0 ? (double)(n - skip) / seconds : 0.0, cpu_seconds);
    fflush(stdout);
    mosquitto_destroy(mosq);
    return 0;
}

int main(int argc, char **argv) {
    mosquitto_lib_init();
    if (argc == 10 && strcmp(argv[1], "pub") == 0) {
        return publish(argv[2], atoi(argv[3]), atoi(argv[4]), atol(argv[5]), atol(argv[6]), atof(argv[7]),
                       atol(argv[8]), atol(argv[9]));
    }
    if (argc == 9 && strcmp(argv[1], "sub") == 0) {
        skip = atol(argv[8]);
        return subscribe(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5], atol(argv[6]), atof(argv[7]));
    }
    fprintf(stderr,
            "usage: mqtt_peer pub HOST PORT QOS COUNT DEVICES RATE SPIKE_EVERY WARMUP\n"
            "       mqtt_peer sub HOST PORT QOS FILTER COUNT IDLE_SECONDS SKIP\n");
    return 64;
}
