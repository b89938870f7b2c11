/* Counts the bytes of an 8-byte input in a hash map, keeps a weighted total in an array map,
 * uses .rodata/.data/.bss globals and a subprogram. */
#include "xbpf_helpers.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} byte_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} totals SEC(".maps");

const volatile __u64 multiplier = 3;
__u32 weights[4] = {1, 2, 3, 4};
__u64 runs;

static __noinline __u64 weigh(__u32 byte)
{
    return byte * multiplier + weights[byte & 3];
}

SEC("xbpf")
int count_bytes(__u8 *input)
{
    __u64 sum = 0;
    for (int i = 0; i < 8; i++) {
        __u32 key = input[i];
        __u64 one = 1, *count = bpf_map_lookup_elem(&byte_counts, &key);
        if (count)
            __sync_fetch_and_add(count, 1);
        else
            bpf_map_update_elem(&byte_counts, &key, &one, BPF_NOEXIST);
        sum += weigh(key);
    }
    __u32 zero = 0;
    __u64 *total = bpf_map_lookup_elem(&totals, &zero);
    if (total)
        *total += sum;
    runs++;
    bpf_printk("run %llu: sum %llu\n", runs, sum);
    return sum & 0xffff;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
