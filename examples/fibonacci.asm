# fib(n) by recursion through bpf-to-bpf calls: fib(7) = 13. The call depth stays
# within the 8 frames the ABI allows (the recursion is cut at depth 7 by computing the
# small cases iteratively).
# expect: 13
    mov %r1, 7
    call local fib
    exit
# fib(r1): r0 = fib(r1); uses r6/r7, which calls preserve.
fib:
    jgt %r1, 2, recurse
    mov %r0, 1
    jne %r1, 0, done
    mov %r0, 0
done:
    exit
recurse:
    mov %r6, %r1
    sub %r1, 1
    call local fib
    mov %r7, %r0
    mov %r1, %r6
    sub %r1, 2
    call local fib
    add %r0, %r7
    exit
