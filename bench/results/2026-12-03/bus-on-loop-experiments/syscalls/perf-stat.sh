#!/bin/bash
cfg=$1; out=$2
(bench/run.sh scaleout --configs $cfg --scenarios spread --results $out --quiet-wait 3 > $out.log 2>&1 &)
for i in $(seq 1 90); do grep -q "$cfg spread flat-out" $out.log 2>/dev/null && break; sleep 1; done
sleep 4
P=$(pgrep -f "herald serve" | head -1)
perf stat -e 'syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_read,syscalls:sys_enter_recvmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_readv,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom' -p $P -o $out.stat2 -- sleep 3
sleep 30
grep result $out.log | cut -c100-300
cat $out.stat2 | grep syscalls
