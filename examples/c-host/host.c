/* A C host embedding xbpf through its C API: a host helper that reads program memory through
 * the checked accessors, an assembly program calling it, and a clang-built ELF object whose
 * maps the host reads and writes.
 *
 * Usage: host OBJECT [ENGINE]   (OBJECT: examples/c/maps_globals.o; ENGINE: interp or jit)
 * Prints one line per check and exits 0 when all pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xbpf.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) {
        failures++;
        printf("  last error: %s\n", xbpf_last_error());
    }
}

/* Host helper 0x10000: triples the u32 its argument points to. */
static uint64_t triple(void *user, const uint64_t *args, const XbpfMemory *memory, int32_t *failed)
{
    int *calls = user;
    uint32_t value;
    (*calls)++;
    if (xbpf_memory_read(memory, args[0], (uint8_t *)&value, sizeof(value)) != 0) {
        *failed = 1;
        return 0;
    }
    return (uint64_t)value * 3;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    unsigned char *data;
    long size;
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    size = ftell(file);
    fseek(file, 0, SEEK_SET);
    data = malloc(size > 0 ? (size_t)size : 1);
    *len = fread(data, 1, (size_t)size, file);
    fclose(file);
    return data;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OBJECT [ENGINE]\n", argv[0]);
        return 2;
    }
    XbpfRuntime *runtime = xbpf_runtime_new(argc > 2 ? argv[2] : "interp");
    check(runtime != NULL, "runtime created");
    if (!runtime)
        return 1;

    int calls = 0;
    check(xbpf_register_helper(runtime, 0x10000, "host_triple", triple, &calls) == 0,
          "host helper registered");

    uint64_t r0 = 0;
    int64_t program = xbpf_program_load_asm(
        runtime, "stw [%r10-4], 14\nmov %r1, %r10\nadd %r1, -4\ncall 65536\nexit\n");
    check(program > 0, "assembly program loaded");
    check(xbpf_program_run(runtime, (uint32_t)program, NULL, 0, &r0) == 0 && r0 == 42 &&
              calls == 1,
          "host helper read the program's stack and returned 42");

    int64_t bad = xbpf_program_load_asm(runtime, "mov %r1, 16\ncall 65536\nexit\n");
    check(bad > 0 && xbpf_program_run(runtime, (uint32_t)bad, NULL, 0, &r0) != 0 &&
              strstr(xbpf_last_error(), "host helper") != NULL,
          "a helper refusing a bad pointer stops the program with an error");

    check(xbpf_program_load_asm(runtime, "call 9\nexit\n") < 0 &&
              strstr(xbpf_last_error(), "bpf_skb_store_bytes") != NULL,
          "an unknown helper is a load error naming it");

    size_t len = 0;
    unsigned char *bytes = read_file(argv[1], &len);
    check(bytes != NULL, "object file read");
    if (!bytes)
        return 1;
    XbpfObject *object = xbpf_object_load(runtime, bytes, len);
    free(bytes);
    check(object != NULL, "ELF object loaded");
    if (!object)
        return 1;
    program = xbpf_program_load(runtime, object, "xbpf", "count_bytes");
    check(program > 0, "ELF program loaded");

    uint8_t input[8] = {1, 2, 3, 4, 5, 6, 7, 1};
    check(xbpf_program_run(runtime, (uint32_t)program, input, sizeof(input), &r0) == 0 &&
              r0 == 108,
          "count_bytes returned 108");

    int64_t counts = xbpf_object_map(object, "byte_counts");
    uint32_t key = 1;
    uint64_t value = 0;
    check(counts > 0 &&
              xbpf_map_lookup(runtime, (uint32_t)counts, (uint8_t *)&key, sizeof(key),
                              (uint8_t *)&value, sizeof(value)) == 0 &&
              value == 2,
          "byte 1 was counted twice");

    key = 200;
    value = 7;
    check(xbpf_map_update(runtime, (uint32_t)counts, (uint8_t *)&key, sizeof(key),
                          (uint8_t *)&value, sizeof(value), 0) == 0,
          "host inserted a count");
    input[0] = 200;
    check(xbpf_program_run(runtime, (uint32_t)program, input, sizeof(input), &r0) == 0,
          "second run");
    check(xbpf_map_lookup(runtime, (uint32_t)counts, (uint8_t *)&key, sizeof(key),
                          (uint8_t *)&value, sizeof(value)) == 0 &&
              value == 8,
          "the program incremented the host's count");
    check(xbpf_map_delete(runtime, (uint32_t)counts, (uint8_t *)&key, sizeof(key)) == 0 &&
              xbpf_map_lookup(runtime, (uint32_t)counts, (uint8_t *)&key, sizeof(key),
                              (uint8_t *)&value, sizeof(value)) != 0,
          "host deleted it");

    xbpf_object_free(object);
    xbpf_runtime_free(runtime);
    printf("%d failures\n", failures);
    return failures == 0 ? 0 : 1;
}
