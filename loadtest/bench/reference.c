// reference.c: the C baseline that vigil-bench compares its offline replay against.
//
// It does the least a telemetry anomaly detector has to do per message, the plain C way: a byte scanner over
// the JSON payload with strtod for the numbers, and a per-device, per-metric EWMA mean and variance (the same
// update and warm-up rule as Vigil's EWMADetector) in an open-addressing table keyed by the device id's bytes.
// No threads, no ring, no topic matching, no events: what one core does with a straightforward program.
//
// Input: one message a line, `device<TAB>payload`, payloads flat JSON objects of numbers (strings, true, false
// and null are skipped; anything else makes the line bad). The whole file is read before the clock starts.
//
// Usage:  reference FILE
// Output: one line, `messages=N devices=D samples=S bad=B anomalies=A seconds=T cpu_seconds=C messages_per_sec=R`.
//
// Build:  cc -O2 -o reference reference.c -lm      (vigil-bench does this itself, in a temp dir)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_METRICS 8
#define MAX_KEY 32       // device ids up to this long live in the device record; longer ones on the heap
#define MAX_NAMES 64     // distinct metric names over all devices
#define MAX_NAME 64

// Vigil's defaults: half-life 50 samples, warm-up 30, threshold 0.9999 (|z| >= 3.8906), clip 3 sigma.
#define HALF_LIFE 50.0
#define WARMUP 30
#define THRESHOLD_Z 3.8906
#define CLIP 3.0
#define MIN_STD 1e-6

// Kept small so that a message touches few cache lines: the record's first line has the hash and the key,
// the metrics follow (4 metrics: two more lines).
struct metric {
    int32_t name;  // index in `names`
    int32_t count;
    double mean;
    double variance;
    double pad;  // 32 bytes: two metrics a cache line
};

struct device {
    uint64_t hash;
    int32_t key_length;
    int32_t metric_count;
    unsigned char key[MAX_KEY];
    const unsigned char *long_key;  // when key_length > MAX_KEY
    double last_event_time;
    struct metric metrics[MAX_METRICS];
};

static struct device *devices;
static long device_count;
static long device_capacity;
static int32_t *slots;  // device index + 1, 0 = empty; at most half full
static long slot_mask;
static double alpha;

// Metric names, shared by all devices (a handful: a linear search stays in L1).
static unsigned char names[MAX_NAMES][MAX_NAME];
static int name_lengths[MAX_NAMES];
static int name_count;

static uint64_t hash_bytes(const unsigned char *bytes, int length) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then the MurmurHash3 finaliser (as Vigil's StableHash)
    for (int i = 0; i < length; i++) {
        h ^= bytes[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static void *checked(void *pointer) {
    if (!pointer) {
        fprintf(stderr, "reference: out of memory\n");
        exit(1);
    }
    return pointer;
}

static const unsigned char *key_of(const struct device *d) { return d->key_length <= MAX_KEY ? d->key : d->long_key; }

static void place(long index) {
    long slot = (long)(devices[index].hash & (uint64_t)slot_mask);
    while (slots[slot] != 0) slot = (slot + 1) & slot_mask;
    slots[slot] = (int32_t)(index + 1);
}

static struct device *find_or_add(const unsigned char *key, int length) {
    uint64_t hash = hash_bytes(key, length);
    long slot = (long)(hash & (uint64_t)slot_mask);
    for (;;) {
        int32_t entry = slots[slot];
        if (entry == 0) break;
        struct device *d = &devices[entry - 1];
        if (d->hash == hash && d->key_length == length && memcmp(key_of(d), key, (size_t)length) == 0) return d;
        slot = (slot + 1) & slot_mask;
    }
    if (device_count == device_capacity) {
        device_capacity *= 2;
        devices = checked(realloc(devices, (size_t)device_capacity * sizeof *devices));
    }
    struct device *d = &devices[device_count];
    memset(d, 0, sizeof *d);
    d->hash = hash;
    d->key_length = length;
    if (length <= MAX_KEY) {
        memcpy(d->key, key, (size_t)length);
    } else {
        unsigned char *copy = checked(malloc((size_t)length));
        memcpy(copy, key, (size_t)length);
        d->long_key = copy;
    }
    device_count++;
    if (device_count * 2 > slot_mask + 1) {
        long size = (slot_mask + 1) * 2;
        free(slots);
        slots = checked(calloc((size_t)size, sizeof *slots));
        slot_mask = size - 1;
        for (long i = 0; i < device_count; i++) place(i);
    } else {
        slots[slot] = (int32_t)device_count;
    }
    return d;
}

// The index of a metric name, added when new; -1 when the table is full or the name too long.
static int name_index(const unsigned char *name, int length) {
    for (int i = 0; i < name_count; i++) {
        if (name_lengths[i] == length && memcmp(names[i], name, (size_t)length) == 0) return i;
    }
    if (name_count == MAX_NAMES || length > MAX_NAME) return -1;
    memcpy(names[name_count], name, (size_t)length);
    name_lengths[name_count] = length;
    return name_count++;
}

// Scores `x` against the baseline before it, then learns from it (Vigil's EWMADetector.observe).
static int observe(struct metric *m, double x) {
    int anomalous = 0;
    double std = sqrt(m->variance);
    if (std < MIN_STD) std = MIN_STD;
    if (m->count >= WARMUP) anomalous = fabs((x - m->mean) / std) >= THRESHOLD_Z;
    m->count++;
    if (m->count > WARMUP) {
        double bound = CLIP * std;
        if (x < m->mean - bound) x = m->mean - bound;
        if (x > m->mean + bound) x = m->mean + bound;
    }
    double a = 1.0 / (double)m->count;
    if (a < alpha) a = alpha;
    double d = x - m->mean;
    m->mean += a * d;
    m->variance = (1 - a) * (m->variance + a * d * d);
    return anomalous;
}

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

// Decodes one payload for device `d`; returns samples scored, or -1 for a payload it cannot read.
static int process(struct device *d, const unsigned char *p, const unsigned char *end, long *anomalies) {
    int samples = 0;
    p = skip_space(p, end);
    if (p == end || *p != '{') return -1;
    p = skip_space(p + 1, end);
    if (p < end && *p == '}') return 0;
    for (;;) {
        if (p == end || *p != '"') return -1;
        const unsigned char *name = ++p;
        while (p < end && *p != '"') {
            if (*p == '\\') return -1;  // escaped keys are out of scope for the reference
            p++;
        }
        if (p == end) return -1;
        int name_length = (int)(p - name);
        p = skip_space(p + 1, end);
        if (p == end || *p != ':') return -1;
        p = skip_space(p + 1, end);
        if (p == end) return -1;
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *number_end;
            double value = strtod((const char *)p, &number_end);  // the line's tab or newline stops it
            if ((const unsigned char *)number_end == p) return -1;
            p = (const unsigned char *)number_end;
            if (name_length == 2 && name[0] == 't' && name[1] == 's') {
                d->last_event_time = value >= 1e11 ? value / 1000 : value;
            } else {
                int id = name_index(name, name_length);
                struct metric *m = NULL;
                for (int i = 0; i < d->metric_count; i++) {
                    if (d->metrics[i].name == id) {
                        m = &d->metrics[i];
                        break;
                    }
                }
                if (!m && id >= 0 && d->metric_count < MAX_METRICS) {
                    m = &d->metrics[d->metric_count++];
                    m->name = id;
                }
                if (m) {
                    *anomalies += observe(m, value);
                    samples++;
                }
            }
        } else if (*p == '"') {
            p++;
            while (p < end && *p != '"') p += *p == '\\' ? 2 : 1;
            if (p >= end) return -1;
            p++;
        } else if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            p += 4;
        } else if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            p += 5;
        } else if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            p += 4;
        } else {
            return -1;
        }
        p = skip_space(p, end);
        if (p == end) return -1;
        if (*p == '}') return samples;
        if (*p != ',') return -1;
        p = skip_space(p + 1, end);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: reference FILE   (lines of device<TAB>payload)\n");
        return 64;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        perror(argv[1]);
        return 1;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *input = checked(malloc((size_t)size + 1));
    if (fread(input, 1, (size_t)size, file) != (size_t)size) {
        perror(argv[1]);
        return 1;
    }
    fclose(file);
    input[size] = '\n';

    alpha = 1 - exp(log(0.5) / HALF_LIFE);
    device_capacity = 1024;
    devices = checked(malloc((size_t)device_capacity * sizeof *devices));
    slot_mask = 2047;
    slots = checked(calloc((size_t)slot_mask + 1, sizeof *slots));

    struct timespec start, stop, cpu_start, cpu_stop;
    clock_gettime(CLOCK_MONOTONIC, &start);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_start);
    long messages = 0, samples = 0, bad = 0, anomalies = 0;
    const unsigned char *p = input, *end = input + size;
    while (p < end) {
        const unsigned char *line_end = memchr(p, '\n', (size_t)(end - p) + 1);
        const unsigned char *tab = memchr(p, '\t', (size_t)(line_end - p));
        messages++;
        if (!tab) {
            bad++;
        } else {
            struct device *d = find_or_add(p, (int)(tab - p));
            int n = process(d, tab + 1, line_end, &anomalies);
            if (n < 0) bad++; else samples += n;
        }
        p = line_end + 1;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_stop);
    clock_gettime(CLOCK_MONOTONIC, &stop);
    double seconds = (double)(stop.tv_sec - start.tv_sec) + (double)(stop.tv_nsec - start.tv_nsec) / 1e9;
    double cpu_seconds = (double)(cpu_stop.tv_sec - cpu_start.tv_sec) + (double)(cpu_stop.tv_nsec - cpu_start.tv_nsec) / 1e9;
    printf("messages=%ld devices=%ld samples=%ld bad=%ld anomalies=%ld seconds=%.6f cpu_seconds=%.6f messages_per_sec=%.0f\n",
           messages, device_count, samples, bad, anomalies, seconds, cpu_seconds, messages / seconds);
    return bad == 0 ? 0 : 2;
}
