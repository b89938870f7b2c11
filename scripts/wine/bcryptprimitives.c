/* Wine 8's bcryptprimitives.dll lacks ProcessPrng, which Rust's std calls for randomness on
 * Windows. This stand-in forwards it to RtlGenRandom (advapi32's SystemFunction036).
 * Built and put on WINEPATH by scripts/cross.sh; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
