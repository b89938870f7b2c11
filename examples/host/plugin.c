/* A payment-limit plugin for the host in sandbox.rs: it sees one event per call through the
 * host's own context layout, asks the host for the user's limit through a host helper, keeps
 * running totals in a map and writes its verdict into the context. */
#include "../c/xbpf_helpers.h"

struct event {
    __u32 kind; /* 1 = payment */
    __u32 user_id;
    __u64 amount;
    __u32 verdict; /* written by the plugin: 1 allow, 2 deny */
    __u32 reserved;
};

/* Host helper 0x20000: the spending limit of a user. */
static __u64 (*host_limit)(__u32 user_id) = (void *)0x20000;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} spent SEC(".maps");

SEC("payments")
int check_payment(struct event *event)
{
    if (event->kind != 1)
        return 0;
    __u32 user = event->user_id;
    __u64 *total = bpf_map_lookup_elem(&spent, &user);
    __u64 so_far = total ? *total : 0;
    __u64 next = so_far + event->amount;
    if (next > host_limit(user)) {
        event->verdict = 2;
        return 2;
    }
    bpf_map_update_elem(&spent, &user, &next, BPF_ANY);
    event->verdict = 1;
    return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
