# net.sh — the private network of a chaos run (sourced by tests/chaos/run).
#
# Every node gets its own network namespace "$NET_ID-nI" with one interface
# eth0 = 198.18.0.I/24 (RFC 2544 benchmarking space: 198.18.0.0/15 only), and
# no default route, so nothing can leave the bridge. The bridge br0 lives in
# its own namespace "$NET_ID-br", so the host's network (and its interfaces,
# routes and firewall) is never touched. Faults:
#   cuts      iptables DROP rules in a CHAOS chain of the node namespaces:
#             both directions (partition) or one direction (asymmetric);
#   loss      iptables `statistic --mode random` DROP on a node's egress;
#   delay     tc netem when the kernel has it, otherwise chaos-netdelay, a
#             userspace NFQUEUE delayer (this machine's kernel has no netem).
# net_cleanup removes every namespace of the run (veths and bridge go with
# them) and stops the delayers; it is idempotent.
#
# Needs: NET_ID (unique prefix, e.g. rfs-<pid>), NET_DIR (state directory),
# NETDELAY (path of chaos-netdelay).

NET_NODES=0

net_ns() { echo "$NET_ID-n$1"; }
net_ip() { echo "198.18.0.$1"; }
net_in() { local n=$1; shift; nsenter --net="/run/netns/$(net_ns "$n")" "$@"; }

# net_available: 0 when namespaces, veths, a bridge and iptables work here
net_available() {
        command -v ip >/dev/null && command -v iptables >/dev/null && command -v nsenter >/dev/null || return 1
        local probe="$NET_ID-probe"
        ip netns add "$probe" 2>/dev/null || return 1
        local ok=0
        ip -n "$probe" link add chaosprobe type bridge 2>/dev/null || ok=1
        nsenter --net="/run/netns/$probe" iptables -N CHAOSPROBE 2>/dev/null || ok=1
        ip netns del "$probe" 2>/dev/null
        return $ok
}

net_has_netem() {
        local ok=1
        ip -n "$NET_ID-br" link add chaosnetem type dummy 2>/dev/null || return 1
        ip netns exec "$NET_ID-br" tc qdisc add dev chaosnetem root netem delay 1ms 2>/dev/null && ok=0
        ip -n "$NET_ID-br" link del chaosnetem 2>/dev/null
        return $ok
}

# net_up N: creates the bridge and N node namespaces
net_up() {
        local n=$1 i
        mkdir -p "$NET_DIR"
        ip netns add "$NET_ID-br" || return 1
        echo "$NET_ID-br" >>"$NET_DIR/netns"
        ip -n "$NET_ID-br" link add br0 type bridge || return 1
        ip -n "$NET_ID-br" link set br0 up
        for i in $(seq 1 "$n"); do net_add_node "$i" || return 1; done
}

net_add_node() {
        local i=$1 ns
        ns=$(net_ns "$i")
        ip netns add "$ns" || return 1
        echo "$ns" >>"$NET_DIR/netns"
        ip link add "ch$$n$i" netns "$ns" type veth peer name "p$i" netns "$NET_ID-br" || return 1
        ip -n "$NET_ID-br" link set "p$i" master br0 up
        ip -n "$ns" link set "ch$$n$i" name eth0
        ip -n "$ns" addr add "$(net_ip "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        net_in "$i" iptables -N CHAOS_IN
        net_in "$i" iptables -N CHAOS_OUT
        net_in "$i" iptables -A INPUT -i eth0 -j CHAOS_IN
        net_in "$i" iptables -A OUTPUT -o eth0 -j CHAOS_OUT
        [ "$i" -gt "$NET_NODES" ] && NET_NODES=$i
        return 0
}

# net_cut A B: no packets between A and B, either way
net_cut() {
        net_in "$1" iptables -A CHAOS_OUT -d "$(net_ip "$2")" -j DROP
        net_in "$1" iptables -A CHAOS_IN -s "$(net_ip "$2")" -j DROP
        net_in "$2" iptables -A CHAOS_OUT -d "$(net_ip "$1")" -j DROP
        net_in "$2" iptables -A CHAOS_IN -s "$(net_ip "$1")" -j DROP
}

# net_cut_oneway A B: A's packets do not reach B (B's still reach A)
net_cut_oneway() {
        net_in "$1" iptables -A CHAOS_OUT -d "$(net_ip "$2")" -j DROP
}

# net_partition "1 2" "3 4 5": cuts every pair across the two groups
net_partition() {
        local a b
        for a in $1; do for b in $2; do net_cut "$a" "$b"; done; done
}

# net_ring N: every node talks only to its two ring neighbours
net_ring() {
        local n=$1 a b d
        for a in $(seq 1 "$n"); do
                for b in $(seq $((a + 1)) "$n"); do
                        d=$((b - a))
                        [ "$d" -eq 1 ] || [ "$d" -eq $((n - 1)) ] || net_cut "$a" "$b"
                done
        done
}

# net_loss NODE PERCENT: random loss of NODE's outgoing packets
net_loss() {
        net_in "$1" iptables -A CHAOS_OUT -m statistic --mode random --probability "$(awk -v p="$2" 'BEGIN { printf "%.3f", p / 100 }')" -j DROP
}

# net_delay NODE MS: delays NODE's outgoing packets by MS milliseconds
net_delay() {
        local n=$1 ms=$2
        if [ "${NET_NETEM:-}" = yes ]; then
                net_in "$n" tc qdisc replace dev eth0 root netem delay "${ms}ms" "$((ms / 4 + 1))ms"
                return
        fi
        # NFQUEUE with --queue-bypass: if the delayer dies, packets pass.
        # nsenter itself (not a function: its subshell would get the pid) execs the delayer
        nsenter --net="/run/netns/$(net_ns "$n")" "$NETDELAY" --queue 0 --delay-ms "$ms" --seconds 600 \
                >>"$NET_DIR/netdelay-n$n.log" 2>&1 &
        echo $! >"$NET_DIR/netdelay-n$n.pid"
        disown $!
        sleep 0.2
        net_in "$n" iptables -A CHAOS_OUT -j NFQUEUE --queue-num 0 --queue-bypass
}

# net_heal: removes every cut, loss and delay
net_heal() {
        local i p
        for i in $(seq 1 "$NET_NODES"); do
                [ -e "/run/netns/$(net_ns "$i")" ] || continue
                net_in "$i" iptables -F CHAOS_IN 2>/dev/null
                net_in "$i" iptables -F CHAOS_OUT 2>/dev/null
                net_in "$i" tc qdisc del dev eth0 root 2>/dev/null
                if [ -f "$NET_DIR/netdelay-n$i.pid" ]; then
                        p=$(cat "$NET_DIR/netdelay-n$i.pid")
                        kill "$p" 2>/dev/null
                        rm -f "$NET_DIR/netdelay-n$i.pid"
                fi
        done
        return 0
}

net_cleanup() {
        local ns p
        for p in "$NET_DIR"/netdelay-n*.pid; do
                [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
        done
        [ -f "$NET_DIR/netns" ] || return 0
        while read -r ns; do
                case $ns in "$NET_ID"-*) ;; *) continue ;; esac
                # A namespace lives on while a process is inside: every process
                # in our namespaces is ours (daemons, delayers); end them by pid.
                for p in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
                ip netns del "$ns" 2>/dev/null
        done <"$NET_DIR/netns"
        rm -f "$NET_DIR/netns"
        return 0
}
