# shellcheck shell=bash
# free_port: print a loopback TCP port that nothing listens on right now, chosen
# below the kernel's ephemeral range (net.ipv4.ip_local_port_range). A test that
# restarts berthd on the same port leaves it free for a moment; a port in the
# ephemeral range can then be taken as the local end of any client's outgoing
# connection (the suites open hundreds at once), and the restart fails to bind.
free_port() {
    local port tries lo
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    ((lo > 12000)) || lo=32768
    for ((tries = 0; tries < 50; tries++)); do
        port=$((10000 + RANDOM % (lo - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "free_port: no free port found" >&2
    return 1
}
