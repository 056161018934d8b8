# etcd.sh — start/stop a 3-member etcd 3.4 cluster on 127.0.0.1 for bench/run
# (sourced). Members e1..e3: client ports 23791..23793 (plain HTTP, the JSON
# gateway), peer ports 23801..23803 with mutual TLS (a CA and one certificate
# per member made with the openssl CLI), --heartbeat-interval=100
# --election-timeout=1000 like raftfs's defaults. Needs $PEER_DIR (a fresh
# directory) set by the caller; everything lives there.

etcd_client_port() { echo $((23790 + $1)); }
etcd_peer_port() { echo $((23800 + $1)); }
etcd_endpoints() { echo "127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793"; }

etcd_install() {
        command -v etcd >/dev/null && return 0
        echo "bench: installing Debian's etcd-server"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null 2>&1 ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null; }
}

etcd_certs() {
        local d=$PEER_DIR/etcd/tls i
        mkdir -p "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj /CN=bench-etcd-ca -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
        for i in 1 2 3; do
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=e$i" \
                        -keyout "$d/e$i.key" -out "$d/e$i.csr" 2>/dev/null
                openssl x509 -req -in "$d/e$i.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                        -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n') \
                        -out "$d/e$i.crt" 2>/dev/null
        done
}

etcd_start_member() {
        local i=$1 d=$PEER_DIR/etcd tls=$PEER_DIR/etcd/tls cluster=""
        local j
        for j in 1 2 3; do cluster+="${cluster:+,}e$j=https://127.0.0.1:$(etcd_peer_port $j)"; done
        setsid etcd --name "e$i" --data-dir "$d/e$i.data" \
                --listen-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
                --advertise-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
                --listen-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
                --initial-advertise-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
                --initial-cluster "$cluster" --initial-cluster-state "${2:-new}" \
                --initial-cluster-token bench \
                --peer-client-cert-auth --peer-trusted-ca-file "$tls/ca.crt" \
                --peer-cert-file "$tls/e$i.crt" --peer-key-file "$tls/e$i.key" \
                --heartbeat-interval 100 --election-timeout 1000 \
                --logger zap --log-level warn \
                </dev/null >>"$d/e$i.log" 2>&1 &
        echo $! >"$d/e$i.pid"
        disown $!
}

etcd_start() {
        etcd_install
        mkdir -p "$PEER_DIR/etcd"
        etcd_certs
        local i
        for i in 1 2 3; do etcd_start_member "$i"; done
        local deadline=$((SECONDS + 30))
        until ETCDCTL_API=3 etcdctl --endpoints "$(etcd_endpoints)" endpoint health >/dev/null 2>&1; do
                if [ $SECONDS -ge $deadline ]; then
                        echo "bench: etcd did not become healthy; logs in $PEER_DIR/etcd" >&2
                        tail -n 5 "$PEER_DIR"/etcd/e*.log >&2
                        return 1
                fi
                sleep 0.2
        done
}

# etcd_leader: prints the index (1..3) of the current leader
etcd_leader() {
        local i
        for i in 1 2 3; do
                if ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$(etcd_client_port "$i")" endpoint status -w simple 2>/dev/null |
                        awk -F', ' '{ exit !($5 == "true") }'; then
                        echo "$i"
                        return 0
                fi
        done
        return 1
}

etcd_pid() { cat "$PEER_DIR/etcd/e$1.pid"; }

etcd_stop() {
        local i p
        for i in 1 2 3; do
                p=$(cat "$PEER_DIR/etcd/e$i.pid" 2>/dev/null) || continue
                kill -9 "$p" 2>/dev/null || true
        done
        for i in 1 2 3; do
                p=$(cat "$PEER_DIR/etcd/e$i.pid" 2>/dev/null) || continue
                while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
        done
}
