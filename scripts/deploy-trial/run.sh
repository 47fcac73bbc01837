#!/usr/bin/env bash
# Replays docs/deploy.md on one Debian machine, as root, with a test domain, and checks each step:
#
#   scripts/deploy-trial/run.sh up     # set everything up, run the checks, leave it running
#   scripts/deploy-trial/run.sh down   # stop what `up` started and remove what it wrote
#
# The configuration files come from docs/deploy.md (the fenced block after each `<!-- file: … -->`)
# with the trial's changes: relay.example.com → relay.gatehouse.test, proxies on 127.0.0.1 only, the
# trial OpenID provider (provider.mjs) for accounts.example.com, and NODE_EXTRA_CA_CERTS for the test
# CA. Where systemd is not PID 1, run-unit.mjs runs each unit's ExecStart as systemd would. It writes
# to /etc/gatehouse, /var/lib/gatehouse, /etc/nginx, /etc/caddy, /etc/systemd/system and /etc/hosts
# (one line): use it on a machine meant for trying things, not on a server that runs anything.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
guide=$repo/docs/deploy.md
state=/tmp/gatehouse-deploy-trial
domain=relay.gatehouse.test
issuer=http://127.0.0.1:4500
ca=/etc/gatehouse/tls/ca.crt

say() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
# Retries a command until it succeeds, for up to $2 seconds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  fail "$what (after ${seconds} s)"
}
# Starts a background process, its output in $state/<name>.log and its pid in $state/<name>.pid.
start_bg() {
  local name=$1; shift
  setsid "$@" >"$state/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}
pid_of() { cat "$state/$1.pid"; }
# The relay/env node process under run-unit.mjs → runuser (signals go to it directly, as systemd sends them).
node_of() {
  local pid; pid=$(pid_of "$1")
  local child; child=$(pgrep -P "$pid" | head -1)
  [ -n "$child" ] || { echo "$pid"; return; }
  local grandchild; grandchild=$(pgrep -P "$child" | head -1)
  echo "${grandchild:-$child}"
}
stop_bg() {
  local name=$1 pid
  [ -f "$state/$name.pid" ] || return 0
  pid=$(node_of "$name")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  kill -TERM "$(pid_of "$name")" 2>/dev/null || true
  rm -f "$state/$name.pid"
}
# A file of the guide, with the trial's changes.
guide_file() {
  awk -v want="<!-- file: $1 -->" '$0 == want { f = 1; next } f == 1 && /^```/ { f = 2; next } f == 2 && /^```/ { exit } f == 2 { print }' "$guide" |
    sed -e "s/relay\.example\.com/$domain/g" \
      -e "s#https://accounts\.example\.com#$issuer#g" \
      -e 's/^\( *\)listen 80;/\1listen 127.0.0.1:80;/' \
      -e 's/^\( *\)listen 443 ssl http2;/\1listen 127.0.0.1:443 ssl http2;/' \
      -e '/listen \[::\]/d'
}
curl_relay() { curl -sS --resolve "$domain:443:127.0.0.1" --resolve "$domain:80:127.0.0.1" --cacert "$ca" "$@"; }
gatehouse() { (cd /opt/gatehouse && npx --no gatehouse "$@"); }
# A metric's value at one instance's metrics port (0 when it has none yet).
metric() { local v; v=$(curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'); echo "${v:-0}"; }
count() { grep -c "$1" "$2" || true; }
# `client connect` as device 1 (account mode); its output in $state/device1.log.
connect_device() {
  HOME=$state/device1 gatehouse client connect --relay "https://$domain" --environment "$envid" --id-token "$token" --data-dir "$state/device1" >"$state/device1.log" 2>&1 || true
  grep -q "^Connected to $envid" "$state/device1.log" || fail "client connect $1: $(cat "$state/device1.log")"
}
id_token() { "$repo/scripts/deploy-trial/id-token.sh" "$1" "$issuer"; }

up() {
  [ "$(id -u)" = 0 ] || fail "run as root"
  mkdir -p "$state"
  cd "$repo"
  say "build (npm ci would do this on a server)"
  (cd "$repo" && npm run build --silent)
  ok "dist/ built"

  say "1. packages, user, directories"
  # Where services start on install (not in a container), they must not come up with their defaults.
  local policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx caddy >"$state/apt.log" 2>&1 || { cat "$state/apt.log"; fail "apt-get install nginx caddy"; }
  [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
  ok "$(nginx -v 2>&1), caddy $(caddy version | cut -d' ' -f1)"
  [ -e /opt/gatehouse ] || ln -s "$repo" /opt/gatehouse
  cd /opt/gatehouse
  id gatehouse >/dev/null 2>&1 || useradd --system --home-dir /var/lib/gatehouse --shell /usr/sbin/nologin gatehouse
  install -d -o gatehouse -g gatehouse -m 0700 /var/lib/gatehouse /var/lib/gatehouse/relay-a /var/lib/gatehouse/relay-b
  install -d -m 0755 /etc/gatehouse
  ok "user gatehouse, /var/lib/gatehouse/relay-{a,b}, /etc/gatehouse"

  say "2. PostgreSQL (a throwaway cluster instead of apt-get install postgresql)"
  local pg; pg=$("$repo/.ci/postgres.sh" start 2>"$state/postgres.log")
  eval "$pg"
  echo "$GATEHOUSE_TEST_PG_DIR" >"$state/pg-dir"
  local admin=${GATEHOUSE_TEST_DATABASE_URL%/gatehouse_test}/postgres
  local port; port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$GATEHOUSE_TEST_DATABASE_URL")
  DBPASS=$(openssl rand -hex 24)
  psql "$admin" -q -v ON_ERROR_STOP=1 -c "CREATE ROLE gatehouse_relay LOGIN PASSWORD '$DBPASS'"
  psql "$admin" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE gatehouse_relay OWNER gatehouse_relay"
  ok "role and database gatehouse_relay on 127.0.0.1:$port"

  say "3. shared files"
  sh -c "umask 077; printf 'GATEHOUSE_RELAY_DATABASE_URL=postgres://gatehouse_relay:%s@127.0.0.1:$port/gatehouse_relay\n' '$DBPASS' > /etc/gatehouse/relay.env"
  sh -c 'umask 077; openssl rand -base64 48 > /etc/gatehouse/internal-secret'
  chown gatehouse:gatehouse /etc/gatehouse/internal-secret
  printf 'GATEHOUSE_RELAY_PORT=4201\nINTERNAL_URL=http://127.0.0.1:4301\nMETRICS_LISTEN=127.0.0.1:9464\n' >/etc/gatehouse/relay-a.env
  printf 'GATEHOUSE_RELAY_PORT=4202\nINTERNAL_URL=http://127.0.0.1:4302\nMETRICS_LISTEN=127.0.0.1:9465\n' >/etc/gatehouse/relay-b.env
  ok "$(stat -c '%n %a %U' /etc/gatehouse/relay.env /etc/gatehouse/internal-secret | tr '\n' ';')"

  say "4. certificate (a test CA instead of certbot) and a name for the relay"
  install -d -m 0755 /etc/gatehouse/tls
  (
    cd /etc/gatehouse/tls
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=Gatehouse trial CA" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$domain" -keyout relay.key -out relay.csr 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:*.%s\nextendedKeyUsage=serverAuth\n' "$domain" "$domain" >relay.ext
    openssl x509 -req -in relay.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile relay.ext -out relay.crt 2>/dev/null
    chmod 0600 ca.key relay.key
  )
  grep -q "$domain" /etc/hosts || echo "127.0.0.1 $domain # gatehouse deploy trial" >>/etc/hosts
  # Node trusts the test CA (a public certificate needs nothing).
  export NODE_EXTRA_CA_CERTS=$ca
  ok "$(openssl x509 -in /etc/gatehouse/tls/relay.crt -noout -ext subjectAltName | tail -1 | xargs)"

  say "5. the relay instances"
  start_bg provider node "$repo/scripts/deploy-trial/provider.mjs" 4500
  wait_for "the trial OpenID provider" 20 curl -sf "$issuer/.well-known/openid-configuration"
  guide_file /etc/systemd/system/gatehouse-relay@.service >/etc/systemd/system/gatehouse-relay@.service
  systemd-analyze verify /etc/systemd/system/gatehouse-relay@a.service
  ok "systemd-analyze verify gatehouse-relay@a.service"
  start_bg relay-a node "$repo/scripts/deploy-trial/run-unit.mjs" /etc/systemd/system/gatehouse-relay@.service a
  wait_for "relay a ready" 30 curl -sf http://127.0.0.1:4201/readyz
  install -d -o gatehouse -g gatehouse -m 0700 /var/lib/gatehouse/relay-b/relay
  install -o gatehouse -g gatehouse -m 0600 /var/lib/gatehouse/relay-a/relay/relay-key.json /var/lib/gatehouse/relay-b/relay/relay-key.json
  start_bg relay-b node "$repo/scripts/deploy-trial/run-unit.mjs" /etc/systemd/system/gatehouse-relay@.service b
  wait_for "relay b ready" 30 curl -sf http://127.0.0.1:4202/readyz
  ok "a: $(curl -s http://127.0.0.1:4201/readyz)  b: $(curl -s http://127.0.0.1:4202/readyz)"
  # An instance with a key of its own is refused, and told which file to copy.
  install -d -o gatehouse -g gatehouse -m 0700 /var/lib/gatehouse/relay-c
  printf 'GATEHOUSE_RELAY_PORT=4203\nINTERNAL_URL=http://127.0.0.1:4303\nMETRICS_LISTEN=127.0.0.1:9466\n' >/etc/gatehouse/relay-c.env
  if node "$repo/scripts/deploy-trial/run-unit.mjs" /etc/systemd/system/gatehouse-relay@.service c >"$state/relay-c.log" 2>&1; then fail "relay c with its own key started"; fi
  grep -q 'is not the key the other instances on this database use' "$state/relay-c.log" || fail "relay c's refusal: $(cat "$state/relay-c.log")"
  rm -rf /var/lib/gatehouse/relay-c /etc/gatehouse/relay-c.env
  ok "an instance with its own key refused: $(grep -o 'is not the key[^.]*' "$state/relay-c.log")"

  say "5. nginx"
  guide_file /etc/nginx/sites-available/gatehouse >/etc/nginx/sites-available/gatehouse
  [ -e /etc/nginx/sites-enabled/default ] && touch "$state/nginx-default-was-enabled"
  ln -sf /etc/nginx/sites-available/gatehouse /etc/nginx/sites-enabled/gatehouse
  rm -f /etc/nginx/sites-enabled/default
  nginx -t 2>&1 | tail -1
  nginx
  wait_for "nginx on 127.0.0.1:443" 10 curl_relay -f "https://$domain/readyz"
  for _ in 1 2 3 4; do curl_relay -s -o /dev/null "https://$domain/readyz"; done
  local a_seen b_seen
  a_seen=$(count '"path":"/readyz"' "$state/relay-a.log"); b_seen=$(count '"path":"/readyz"' "$state/relay-b.log")
  [ "$a_seen" -gt 1 ] && [ "$b_seen" -gt 1 ] || fail "requests through nginx reached a $a_seen and b $b_seen times"
  ok "https://$domain/readyz through nginx reached both instances (request log lines: a $a_seen, b $b_seen)"
  [ "$(curl_relay -s -o /dev/null -w '%{http_code}' "http://$domain/readyz")" = 301 ] || fail "port 80 redirect"
  ok "port 80 answers 301 to https"

  say "6. the environment"
  local home=$state/home
  rm -rf "$home"; mkdir -p "$home"
  token=$(id_token owner)
  start_bg env-first env HOME="$home" node /opt/gatehouse/bin/gatehouse.js env start --relay "https://$domain" --id-token "$token" --data-dir "$home/.gatehouse" --json
  wait_for "the environment links and tunnels" 30 grep -q "tunnel: connected to https://$domain" "$state/env-first.log"
  envid=$(grep -m1 '^{' "$state/env-first.log" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).environmentId))')
  echo "$envid" >"$state/environment-id"
  stop_bg env-first
  ok "linked $envid and tunnelled through nginx; stopped"
  mkdir -p "$home/.config/systemd/user"
  guide_file '~/.config/systemd/user/gatehouse-env.service' | sed "s#^\[Service\]#[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=$ca#" >"$home/.config/systemd/user/gatehouse-env.service"
  mkdir -p "$state/xdg"; chmod 0700 "$state/xdg"
  HOME=$home XDG_RUNTIME_DIR=$state/xdg systemd-analyze --user verify "$home/.config/systemd/user/gatehouse-env.service"
  ok "systemd-analyze --user verify gatehouse-env.service"
  start_bg env env HOME="$home" node "$repo/scripts/deploy-trial/run-unit.mjs" "$home/.config/systemd/user/gatehouse-env.service"
  wait_for "the environment's unit tunnels" 30 grep -q "tunnel: connected to https://$domain" "$state/env.log"
  ok "the unit's command runs the environment: $(grep -m1 'tunnel: connected' "$state/env.log")"

  say "7. devices"
  local mint=0 tries=0
  while [ "${mint:-0}" = 0 ] || [ "$tries" -lt 1 ]; do
    tries=$((tries + 1)); [ "$tries" -le 6 ] || fail "no connect was forwarded over the internal hop in 6 tries"
    HOME=$state/device1 gatehouse client connect --relay "https://$domain" --environment "$envid" --id-token "$token" --data-dir "$state/device1" >"$state/device1.log" 2>&1 || { cat "$state/device1.log"; fail "client connect (account mode)"; }
    grep -q "^Connected to $envid at https://$domain/e/$envid" "$state/device1.log" || fail "not connected: $(cat "$state/device1.log")"
    # A connect makes 4 requests, so nginx's round robin sends each connect to the same instance; one more shifts it.
    curl_relay -s -o /dev/null "https://$domain/healthz"
    mint=$(( $(metric 9464 'gatehouse_relay_forwarded_hops_total{kind="mint",outcome="answered"}') + $(metric 9465 'gatehouse_relay_forwarded_hops_total{kind="mint",outcome="answered"}') ))
  done
  ok "account mode: Connected ($tries connect(s); mints forwarded to the tunnel's holder: $mint)"
  gatehouse connect security --mode client-approval --data-dir "$home/.gatehouse" 2>/dev/null
  start_bg device2 env HOME="$state/device2" node /opt/gatehouse/bin/gatehouse.js client connect --relay "https://$domain" --environment "$envid" --id-token "$token" --data-dir "$state/device2" --label "Trial phone"
  wait_for "the device shows its code" 30 grep -q '^Verification' "$state/device2.log"
  local code; code=$(awk '/^Verification/ { print $2 }' "$state/device2.log")
  # Its second ask is held 25 s; a third ask means that hold went through nginx and ended as held waits do.
  wait_for "the device to ask again after a 25 s hold" 60 sh -c "cd /opt/gatehouse && node bin/gatehouse.js connect security clients --json --data-dir '$home/.gatehouse' 2>/dev/null | grep -q '\"requestCount\":[3-9]'"
  gatehouse connect security approve --code "$code" --data-dir "$home/.gatehouse" 2>/dev/null | tee "$state/approve.log"
  wait_for "the waiting device connects" 20 grep -q "^Connected to $envid" "$state/device2.log"
  ok "client-approval: waited (code $code), approve --code, Connected"
  local label; label=$(cut -c5- <<<"$envid")
  [ "$(curl_relay -s -o /dev/null -w '%{http_code}' --resolve "$label.$domain:443:127.0.0.1" "https://$label.$domain/device")" = 200 ] || fail "device page"
  [ "$(curl_relay -s -o /dev/null -w '%{http_code}' --resolve "$label.$domain:443:127.0.0.1" "https://$label.$domain/settings/connections")" = 404 ] || fail "owner page on the device origin"
  ok "https://$label.$domain/device 200, /settings/connections there 404"
  start_bg session npx tsx "$repo/scripts/deploy-trial/session-stream.ts" "https://$domain" "$envid" "$state/device2/client-key.json" "$token"
  wait_for "the device's live session" 30 grep -q 'session: active' "$state/session.log"
  sleep 65
  grep -q 'session: ended' "$state/session.log" && fail "the session stream ended by itself within 65 s idle"
  gatehouse connect security revoke --code "$code" --data-dir "$home/.gatehouse" 2>/dev/null
  wait_for "the session to end on revoke" 10 grep -q 'session: ended:revoked' "$state/session.log"
  ok "a live session (SSE) stayed open 65 s idle through nginx and ended at once on revoke"

  say "8. draining the instance that holds the tunnel"
  local holder other
  if [ "$(metric 9464 gatehouse_relay_tunnels_open)" = 1 ]; then holder=a; other=b; else holder=b; other=a; fi
  local connects; connects=$(count 'tunnel: connected' "$state/env.log")
  kill -TERM "$(node_of "relay-$holder")"
  wait_for "the environment moves" 20 sh -c "[ \$(grep -c 'tunnel: connected' '$state/env.log') -gt $connects ]"
  local other_port; other_port=$([ $other = a ] && echo 9464 || echo 9465)
  wait_for "relay $other holds the tunnel" 10 sh -c "curl -s http://127.0.0.1:$other_port/metrics | grep -q '^gatehouse_relay_tunnels_open 1'"
  grep -q 'Draining' "$state/relay-$holder.log" || fail "relay $holder did not say it drains"
  ok "SIGTERM to relay $holder: it drained, the environment is tunnelled through relay $other"
  start_bg "relay-$holder" node "$repo/scripts/deploy-trial/run-unit.mjs" /etc/systemd/system/gatehouse-relay@.service "$holder"
  wait_for "relay $holder ready again" 30 curl -sf "http://127.0.0.1:$([ $holder = a ] && echo 4201 || echo 4202)/readyz"
  gatehouse connect security --mode account --data-dir "$home/.gatehouse" 2>/dev/null
  connect_device "after the drain"
  ok "relay $holder back; a device connects again"

  say "5. Caddy instead of nginx"
  nginx -s stop
  guide_file /etc/caddy/Caddyfile >"$state/Caddyfile.guide"
  [ -f "$state/Caddyfile.debian" ] || cp /etc/caddy/Caddyfile "$state/Caddyfile.debian"
  { printf '{\n\t# Trial only: everything on loopback.\n\tdefault_bind 127.0.0.1\n\tadmin 127.0.0.1:2019\n}\n\n'; cat "$state/Caddyfile.guide"; } >/etc/caddy/Caddyfile
  caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile >"$state/caddy-validate.log" 2>&1 || { cat "$state/caddy-validate.log"; fail "caddy validate"; }
  ok "caddy validate"
  connects=$(count 'tunnel: connected' "$state/env.log")
  start_bg caddy env HOME="$state/caddy-home" XDG_DATA_HOME="$state/caddy-home/data" XDG_CONFIG_HOME="$state/caddy-home/config" caddy run --config /etc/caddy/Caddyfile --adapter caddyfile
  wait_for "Caddy on 127.0.0.1:443" 20 curl_relay -f "https://$domain/readyz"
  wait_for "the environment tunnels through Caddy" 30 sh -c "[ \$(grep -c 'tunnel: connected' '$state/env.log') -gt $connects ]"
  connect_device "through Caddy"
  [ "$(curl_relay -s -o /dev/null -w '%{http_code}' --resolve "$label.$domain:443:127.0.0.1" "https://$label.$domain/device")" = 200 ] || fail "device page through Caddy"
  [ "$(curl_relay -s -o /dev/null -w '%{http_code}' "http://$domain/readyz")" = 308 ] || fail "Caddy's redirect to https"
  ok "through Caddy: tunnel, Connected, device page 200, port 80 redirects"

  say "done: everything above ran; scripts/deploy-trial/run.sh down removes it"
}

down() {
  for name in session device2 env env-first relay-a relay-b caddy provider; do stop_bg "$name"; done
  [ -f /run/nginx.pid ] && nginx -s stop 2>/dev/null || true
  if [ -f "$state/pg-dir" ]; then "$repo/.ci/postgres.sh" stop "$(cat "$state/pg-dir")" 2>/dev/null || true; fi
  rm -f /etc/nginx/sites-enabled/gatehouse /etc/nginx/sites-available/gatehouse /etc/systemd/system/gatehouse-relay@.service
  [ -f "$state/nginx-default-was-enabled" ] && ln -sf /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
  [ -f "$state/Caddyfile.debian" ] && cp "$state/Caddyfile.debian" /etc/caddy/Caddyfile
  sed -i "/$domain # gatehouse deploy trial/d" /etc/hosts
  rm -rf /etc/gatehouse /var/lib/gatehouse
  id gatehouse >/dev/null 2>&1 && userdel gatehouse
  [ -L /opt/gatehouse ] && rm /opt/gatehouse
  rm -rf "$state"
  echo "removed (nginx and caddy stay installed)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
