/* bpf_loop with a callback, a ring buffer record, a queue, a per-CPU array and bpf_snprintf. */
#include "xbpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __uint(max_entries, 8);
    __type(value, __u32);
} squares SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} per_cpu SEC(".maps");

struct event {
    __u64 sum;
    char text[24];
};

struct loop_state {
    __u64 sum;
    __u32 limit;
};

static int add_square(__u32 index, struct loop_state *state)
{
    __u32 square = index * index;
    state->sum += square;
    bpf_map_push_elem(&squares, &square, BPF_EXIST);
    return index + 1 >= state->limit; /* stop once `limit` iterations ran */
}

SEC("xbpf")
int sum_squares(__u8 *input)
{
    struct loop_state state = {.sum = 0, .limit = input[0]};
    long iterations = bpf_loop(100, add_square, &state, 0);

    __u32 first = 0;
    bpf_map_pop_elem(&squares, &first);

    struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (event) {
        __u64 args[2] = {state.sum, iterations};
        event->sum = state.sum;
        bpf_snprintf(event->text, sizeof(event->text), "sum=%llu n=%llu", args, sizeof(args));
        bpf_ringbuf_submit(event, 0);
    }

    __u32 zero = 0;
    __u64 *mine = bpf_map_lookup_elem(&per_cpu, &zero);
    if (mine)
        *mine += state.sum;
    return state.sum + first;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
