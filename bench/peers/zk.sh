# zk.sh — start/stop a 3-server ZooKeeper 3.8 ensemble on 127.0.0.1 for
# bench/run (sourced). Servers z1..z3: client ports 21811..21813, quorum ports
# 28881..28883 and election ports 38881..38883, each with its own config and
# data directory under $PEER_DIR/zk. tickTime=100 (the closest ZooKeeper
# gets to 100 ms heartbeats: followers are pinged every tick), syncLimit=10
# ticks (a follower is dropped after 1 s, like raftfs's election timeout),
# initLimit=100. The JVM gets upstream zkEnv.sh's default heap (-Xmx1000m);
# Debian's own script leaves the JVM default. The admin HTTP server is off.

zk_client_port() { echo $((21810 + $1)); }
zk_endpoints() { echo "127.0.0.1:21811,127.0.0.1:21812,127.0.0.1:21813"; }

zk_install() {
        [ -f /usr/share/java/zookeeper.jar ] && [ -f /usr/include/zookeeper/zookeeper.h ] && return 0
        echo "bench: installing Debian's zookeeper and libzookeeper-mt-dev"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zookeeper libzookeeper-mt-dev >/dev/null 2>&1 ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zookeeper libzookeeper-mt-dev >/dev/null; }
}

zk_start_server() {
        local i=$1 d=$PEER_DIR/zk/z$1
        setsid java -Xmx1000m -Dzookeeper.log.dir="$d" -Dzookeeper.root.logger=WARN,CONSOLE \
                -Dlog4j.configuration="file:$d/log4j.properties" \
                -cp "$d:/usr/share/java/zookeeper.jar" org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
                </dev/null >>"$d/server.log" 2>&1 &
        echo $! >"$d/pid"
        disown $!
}

zk_start() {
        zk_install
        local i j
        for i in 1 2 3; do
                local d=$PEER_DIR/zk/z$i
                mkdir -p "$d/data"
                echo "$i" >"$d/data/myid"
                {
                        echo "tickTime=100"
                        echo "initLimit=100"
                        echo "syncLimit=10"
                        echo "dataDir=$d/data"
                        echo "clientPort=$(zk_client_port "$i")"
                        echo "clientPortAddress=127.0.0.1"
                        echo "maxClientCnxns=0"
                        echo "maxSessionTimeout=20000"
                        echo "admin.enableServer=false"
                        echo "4lw.commands.whitelist=srvr"
                        for j in 1 2 3; do echo "server.$j=127.0.0.1:$((28880 + j)):$((38880 + j))"; done
                } >"$d/zoo.cfg"
                printf 'log4j.rootLogger=WARN, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\nlog4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\nlog4j.appender.CONSOLE.layout.ConversionPattern=%%d %%p %%c{1}: %%m%%n\n' >"$d/log4j.properties"
                zk_start_server "$i"
        done
        local deadline=$((SECONDS + 60))
        until zk_leader >/dev/null && [ "$(zk_mode 1)" != "" ] && [ "$(zk_mode 2)" != "" ] && [ "$(zk_mode 3)" != "" ]; do
                if [ $SECONDS -ge $deadline ]; then
                        echo "bench: ZooKeeper ensemble did not form; logs in $PEER_DIR/zk" >&2
                        tail -n 5 "$PEER_DIR"/zk/z*/server.log >&2
                        return 1
                fi
                sleep 0.3
        done
}

# zk_mode I: "leader", "follower" or nothing (four-letter word srvr)
zk_mode() {
        local out
        out=$( { exec 3<>"/dev/tcp/127.0.0.1/$(zk_client_port "$1")" && printf srvr >&3 && timeout 2 cat <&3; } 2>/dev/null) || return 0
        sed -n 's/^Mode: //p' <<<"$out"
}

zk_leader() {
        local i
        for i in 1 2 3; do
                if [ "$(zk_mode "$i")" = leader ]; then echo "$i"; return 0; fi
        done
        return 1
}

zk_pid() { cat "$PEER_DIR/zk/z$1/pid"; }

zk_stop() {
        local i p
        for i in 1 2 3; do
                p=$(cat "$PEER_DIR/zk/z$i/pid" 2>/dev/null) || continue
                kill -9 "$p" 2>/dev/null || true
        done
        for i in 1 2 3; do
                p=$(cat "$PEER_DIR/zk/z$i/pid" 2>/dev/null) || continue
                while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
        done
}
