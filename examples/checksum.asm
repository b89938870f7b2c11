# Sums the bytes of the input memory (r1 = address, r2 = length) into a 16-bit
# ones'-complement checksum, the way IP headers are checked.
# mem: 45 00 00 73 00 00 40 00 40 11 00 00 c0 a8 00 01 c0 a8 00 c7
# expect: 47201
    mov %r0, 0
    mov %r3, 0
loop:
    jge %r3, %r2, fold
    mov %r4, %r1
    add %r4, %r3
    ldxh %r5, [%r4]
    be16 %r5
    add %r0, %r5
    add %r3, 2
    ja loop
fold:
    mov %r5, %r0
    rsh %r5, 16
    and %r0, 0xffff
    add %r0, %r5
    mov %r5, %r0
    rsh %r5, 16
    add %r0, %r5
    xor %r0, 0xffff
    and %r0, 0xffff
    exit
