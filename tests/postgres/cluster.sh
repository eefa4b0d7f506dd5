#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suites: initdb into a fresh temporary folder, its own
# port on 127.0.0.1 and its own socket, TLS on with a certificate authority made here for it.
#
#   eval "$(tests/postgres/cluster.sh start)"   exports JETSTATE_TEST_POSTGRES_URL (a superuser's
#                                               URL), JETSTATE_TEST_POSTGRES_DIR and
#                                               JETSTATE_TEST_POSTGRES_CA (the CA file)
#   tests/postgres/cluster.sh stop DIR          stops it and removes DIR
#
# PostgreSQL comes from Debian's packages when the machine lacks it. initdb refuses to run as root,
# so as root the cluster belongs to the `postgres` user the package creates.
set -euo pipefail

as_owner() {
    # From /, which the postgres user can enter (the caller's folder it may not).
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start() {
    if [ -z "$(bindir)" ]; then
        echo "installing PostgreSQL from Debian's packages" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        else
            sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        fi
    fi
    local bin dir port
    bin=$(bindir)
    dir=$(mktemp -d /tmp/jetstate-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }

    # TLS: a CA and a server certificate for 127.0.0.1 and localhost, so that sslmode=verify-full
    # can be tested against this very cluster.
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=jetstate test CA" \
            -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile san.ext -out server.crt 2>/dev/null
        chmod 600 server.key
        [ "$(id -u)" = 0 ] && chown postgres server.key server.crt
        chmod 644 ca.crt
    )
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
max_connections = 200
EOF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export JETSTATE_TEST_POSTGRES_URL='postgresql://postgres@127.0.0.1:$port/postgres'"
    echo "export JETSTATE_TEST_POSTGRES_DIR='$dir'"
    echo "export JETSTATE_TEST_POSTGRES_CA='$dir/ca.crt'"
    echo "export JETSTATE_TEST_POSTGRES_BIN='$bin'"
}

stop() {
    local dir=$1
    [ -d "$dir/data" ] || return 0
    as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:?which cluster folder}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
