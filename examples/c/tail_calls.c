/* A dispatcher tail-calls one of three stages by the first input byte; stages record that
 * they ran in an array map and chain to the next stage. */
#include "xbpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} visits SEC(".maps");

static __noinline void visit(__u32 stage)
{
    __u64 *count = bpf_map_lookup_elem(&visits, &stage);
    if (count)
        *count += 1;
}

int stage0(__u8 *input);
int stage1(__u8 *input);
int stage2(__u8 *input);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __array(values, int(void *));
} stages SEC(".maps") = {
    .values = {[0] = (void *)&stage0, [1] = (void *)&stage1, [2] = (void *)&stage2},
};

SEC("xbpf/stage")
int stage0(__u8 *input)
{
    visit(0);
    bpf_tail_call(input, &stages, 1);
    return 100;
}

SEC("xbpf/stage")
int stage1(__u8 *input)
{
    visit(1);
    bpf_tail_call(input, &stages, 2);
    return 101;
}

SEC("xbpf/stage")
int stage2(__u8 *input)
{
    visit(2);
    return 40 + input[1];
}

SEC("xbpf")
int dispatch(__u8 *input)
{
    visit(3);
    bpf_tail_call(input, &stages, input[0]);
    return 1; /* the slot was empty */
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
