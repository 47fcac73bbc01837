#!/usr/bin/env bash
# Signs USER in at the trial provider (provider.mjs) by its development login form, as a browser
# would (authorization code + PKCE), and prints the ID token. Trial only.
#   scripts/deploy-trial/id-token.sh USER [issuer]
set -euo pipefail
user=${1:?usage: id-token.sh USER [issuer]}
issuer=${2:-http://127.0.0.1:4500}
redirect=http://127.0.0.1:4501/callback
jar=$(mktemp); trap 'rm -f "$jar"' EXIT
verifier=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
location() { curl -s -o /dev/null -b "$jar" -c "$jar" -w '%{redirect_url}' "$@"; }
next=$(location "$issuer/auth?client_id=gatehouse&response_type=code&scope=openid&redirect_uri=$redirect&state=trial&nonce=trial&code_challenge=$challenge&code_challenge_method=S256")
for _ in 1 2 3 4 5 6; do
  case "$next" in
    "$redirect"*) break ;;
    */interaction/*)
      uid=${next##*/interaction/}
      page=$(curl -s -b "$jar" -c "$jar" "$next")
      if grep -q 'name="login"' <<<"$page"; then
        next=$(location -X POST -d prompt=login --data-urlencode "login=$user" --data-urlencode 'password=trial' "$issuer/interaction/$uid")
      else
        next=$(location -X POST -d prompt=consent "$issuer/interaction/$uid")
      fi ;;
    *) next=$(location "$next") ;;
  esac
done
code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$next")
[ -n "$code" ] || { echo "id-token.sh: no code (last stop: $next)" >&2; exit 1; }
curl -s -X POST "$issuer/token" -d grant_type=authorization_code -d "code=$code" -d "redirect_uri=$redirect" \
  -d "code_verifier=$verifier" -d client_id=gatehouse -d client_secret=trial-only-secret \
  | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const t=JSON.parse(s);if(!t.id_token){console.error("id-token.sh:",s);process.exit(1)}console.log(t.id_token)})'
