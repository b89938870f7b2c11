# Computes 20! with a loop. No input memory.
# expect: 2432902008176640000
    mov %r0, 1
    mov %r1, 20
loop:
    mul %r0, %r1
    sub %r1, 1
    jne %r1, 0, loop
    exit
