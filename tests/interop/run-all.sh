#!/bin/bash
# Interop: real third-party SCEP clients from Debian packages enroll against
# bin/scepd on both /certsrv/mscep/mscep.dll and /scep, then renew.  Each
# certificate is checked with `openssl verify` against the CA, and its ledger
# row with sqlite3.  No proxy or shim sits between a client and scepd.
#
#   micromdm scepclient   (package scep)            POST, SHA-1, single DES
#   strongSwan pki --scep (package strongswan-pki)  POST, SHA-256, AES-128
#   certmonger            (package certmonger)      GET, SHA-256, AES-256
set -u
BIN=${SCEPD_BIN:-bin}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/scepd-interop-XXXXXX)
chmod 711 "$WORK"	# scepd, started as root, runs as nobody
CHALLENGE=interop-$$-secret
pass=0
fail=0
pid=

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

for tool in scepclient pki getcert certmonger openssl sqlite3 chromium; do
	if ! command -v "$tool" >/dev/null; then
		echo "interop: $tool not installed (scripts/deps.sh --install --test)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

cd "$ROOT"
"$BIN"/scepd -c conf/scepd.conf -o state_dir="$WORK/var" -o listen=127.0.0.1:0 \
	-o port_file="$WORK/port" -o challenge="$CHALLENGE" -o ca_key_bits=2048 \
	-o legacy_algorithms=yes -o admin_listen=127.0.0.1:0 \
	-o admin_port_file="$WORK/admin_port" >"$WORK/scepd.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	[ -s "$WORK/port" ] && break
	sleep 0.1
done
if [ ! -s "$WORK/port" ]; then
	echo "interop: scepd did not start"; cat "$WORK/scepd.log"
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$(cat "$WORK/port")
CA="$WORK/var/ca.pem"
echo "interop: scepd on 127.0.0.1:$PORT"

# result NAME CERT CN: openssl verify + the ledger row + delivery event
result() {
	local name=$1 cert=$2 cn=$3 rows events
	if [ ! -s "$cert" ]; then
		echo "FAIL $name: no certificate"; fail=$((fail + 1)); return
	fi
	if ! openssl verify -CAfile "$CA" "$cert" >/dev/null 2>&1; then
		echo "FAIL $name: openssl verify"; openssl verify -CAfile "$CA" "$cert"
		fail=$((fail + 1)); return
	fi
	rows=$(sqlite3 "$WORK/var/data/ledger.db" "SELECT count(*) FROM operations
		WHERE (', ' || csr_subject || ',') LIKE '%, CN=$cn,%' AND outcome = 'issued'
		AND renewal_of IS NULL
		AND cert_serial IS NOT NULL")
	if [ "$rows" != 1 ]; then
		echo "FAIL $name: $rows issued ledger rows for CN=$cn"; fail=$((fail + 1)); return
	fi
	# The delivery event is written when the response completes.
	for _ in $(seq 1 50); do
		events=$(sqlite3 "$WORK/var/data/ledger.db" "SELECT count(*) FROM events e
			JOIN operations o ON o.id = e.operation_id WHERE
			(', ' || o.csr_subject || ',') LIKE '%, CN=$cn,%' AND e.kind = 'response_complete'
			AND o.renewal_of IS NULL")
		[ "$events" = 1 ] && break
		sleep 0.1
	done
	if [ "$events" != 1 ]; then
		echo "FAIL $name: no response_complete event"; fail=$((fail + 1)); return
	fi
	# scepctl show tells the whole story of the enrollment.
	story=$("$BIN"/scepctl -c conf/scepd.conf -o state_dir="$WORK/var" show "$cn")
	for want in "status delivered" request_received " issued " response_complete; do
		case "$story" in
		*"$want"*) ;;
		*) echo "FAIL $name: scepctl show lacks '$want':"; echo "$story"
		   fail=$((fail + 1)); return ;;
		esac
	done
	echo "ok   $name: $(openssl x509 -in "$cert" -noout -subject -serial | tr '\n' ' ')"
	pass=$((pass + 1))
}

serial() {
	openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# renewed NAME CERT OLD_SERIAL TYPE: a new certificate, linked in the ledger
# to the one that signed the request, with the expected messageType.
renewed() {
	local name=$1 cert=$2 old=$3 type=$4 new row
	new=$(serial "$cert")
	if [ -z "$new" ] || [ "$new" = "$old" ]; then
		echo "FAIL $name: no new certificate"; fail=$((fail + 1)); return
	fi
	if ! openssl verify -CAfile "$CA" "$cert" >/dev/null 2>&1; then
		echo "FAIL $name: openssl verify"; fail=$((fail + 1)); return
	fi
	row=$(sqlite3 "$WORK/var/data/ledger.db" "SELECT message_type || '|' ||
		renewal_of FROM operations WHERE cert_serial = '$new' AND
		outcome = 'issued'")
	if [ "$row" != "$type|$old" ]; then
		echo "FAIL $name: ledger says '$row', want '$type|$old'"
		fail=$((fail + 1)); return
	fi
	echo "ok   $name: $old renewed as $new (messageType $type)"
	pass=$((pass + 1))
}

micromdm() {
	local path=$1 tag=$2 d="$WORK/micromdm-$2"
	mkdir -p "$d"
	(cd "$d" && timeout 120 scepclient -server-url "http://127.0.0.1:$PORT$path" \
		-challenge "$CHALLENGE" -cn "micromdm-$tag" \
		-private-key "$d/key.pem" -certificate "$d/cert.pem") >"$d/log" 2>&1 \
		|| { echo "scepclient failed:"; tail -5 "$d/log"; }
	result "micromdm scepclient $path" "$d/cert.pem" "micromdm-$tag"
	# Renewal: the same key and its certificate, no challenge: RenewalReq.
	local old
	old=$(serial "$d/cert.pem")
	(cd "$d" && timeout 120 scepclient -server-url "http://127.0.0.1:$PORT$path" \
		-cn "micromdm-$tag" -private-key "$d/key.pem" \
		-certificate "$d/cert.pem") >"$d/renew.log" 2>&1 \
		|| { echo "scepclient renewal failed:"; tail -5 "$d/renew.log"; }
	renewed "micromdm scepclient renewal $path" "$d/cert.pem" "$old" 17
}

strongswan() {
	local path=$1 tag=$2 d="$WORK/strongswan-$2" url="http://127.0.0.1:$PORT$path"
	mkdir -p "$d"
	{
		pki --scepca --url "$url" --caout "$d/ca.crt" --raout "$d/ra.crt" --force &&
		pki --gen --type rsa --size 2048 --outform pem >"$d/key.pem" &&
		timeout 120 pki --scep --url "$url" --in "$d/key.pem" \
			--dn "CN=strongswan-$tag" --san "strongswan-$tag.lab.example" \
			--password "$CHALLENGE" --cacert-enc "$d/ra.crt" \
			--cacert-sig "$d/ra.crt" --cacert "$d/ca.crt" \
			--outform pem >"$d/cert.pem"
	} >"$d/log" 2>&1 || { echo "pki --scep failed:"; grep -vi tpm "$d/log" | tail -5; }
	result "strongSwan pki --scep $path" "$d/cert.pem" "strongswan-$tag"
	# Renewal with a new key, signed by the old certificate: RenewalReq.
	{
		pki --gen --type rsa --size 2048 --outform pem >"$d/key2.pem" &&
		timeout 120 pki --scep --url "$url" --in "$d/key2.pem" \
			--dn "CN=strongswan-$tag" --cert "$d/cert.pem" --key "$d/key.pem" \
			--cacert-enc "$d/ra.crt" --cacert-sig "$d/ra.crt" \
			--cacert "$d/ca.crt" --outform pem >"$d/cert2.pem"
	} >"$d/renew.log" 2>&1 || { echo "pki --scep renewal failed:"; grep -vi tpm "$d/renew.log" | tail -5; }
	renewed "strongSwan pki --scep renewal $path" "$d/cert2.pem" "$(serial "$d/cert.pem")" 17
}

# certmonger: a private daemon with its own state and a private socket
# instead of D-Bus; getcert talks to it through CERTMONGER_PVT_ADDRESS.
certmonger_client() {
	local path=$1 tag=$2 d="$WORK/certmonger-$2"
	mkdir -p "$d"/{config,requests,cas,local,tmp,out}
	cat >"$d/run.sh" <<-SCRIPT
	getcert add-scep-ca -c scepd-$tag -u "http://127.0.0.1:$PORT$path" -N "$CA" &&
	getcert request -c scepd-$tag -f "$d/out/cert.pem" -k "$d/out/key.pem" \
		-N "CN=certmonger-$tag" -D "certmonger-$tag.lab.example" \
		-L "$CHALLENGE" -w -v &&
	cp "$d/out/cert.pem" "$d/cert1.pem" &&
	getcert resubmit -f "$d/out/cert.pem" -w &&
	cp "$d/out/cert.pem" "$d/cert2.pem" &&
	getcert rekey -f "$d/out/cert.pem" -w &&
	cp "$d/out/cert.pem" "$d/cert3.pem"
	SCRIPT
	(cd "$d" && CERTMONGER_CONFIG_DIR="$d/config" CERTMONGER_REQUESTS_DIR="$d/requests" \
		CERTMONGER_CAS_DIR="$d/cas" CERTMONGER_LOCAL_CA_DIR="$d/local" \
		CERTMONGER_TMPDIR="$d/tmp" timeout 180 certmonger -n -L -P "$d/sock" \
		-c "sh $d/run.sh") >"$d/log" 2>&1 \
		|| { echo "certmonger failed:"; tail -8 "$d/log"; }
	result "certmonger $path" "$d/cert1.pem" "certmonger-$tag"
	# Renewals are PKCSReqs signed by the certificate certmonger holds.
	renewed "certmonger resubmit $path" "$d/cert2.pem" "$(serial "$d/cert1.pem")" 19
	renewed "certmonger rekey $path" "$d/cert3.pem" "$(serial "$d/cert2.pem")" 19
}

for entry in "/certsrv/mscep/mscep.dll:mscep" "/scep:scep"; do
	path=${entry%%:*}
	tag=${entry##*:}
	micromdm "$path" "$tag"
	strongswan "$path" "$tag"
	certmonger_client "$path" "$tag"
done

# Revocation, judged by OpenSSL against the CRL that scepd publishes: the
# first strongSwan certificate is revoked, its renewal is not.
crl_check() {
	local d="$WORK/strongswan-mscep" url
	url=$(sed -n 's/^  CRL: *//p' "$WORK/scepd.log")
	"$ROOT/$BIN"/scepctl -c "$ROOT/conf/scepd.conf" -o state_dir="$WORK/var" \
		revoke "$(serial "$d/cert.pem")" --reason superseded >/dev/null &&
	curl -sf "$url" -o "$WORK/crl.der" &&
	openssl crl -inform DER -in "$WORK/crl.der" -out "$WORK/crl.pem" || {
		echo "FAIL CRL: cannot revoke or fetch $url"; fail=$((fail + 1)); return; }
	if openssl verify -crl_check -CAfile "$CA" -CRLfile "$WORK/crl.pem" \
		"$d/cert.pem" >/dev/null 2>&1; then
		echo "FAIL CRL: revoked certificate still verifies"; fail=$((fail + 1)); return
	fi
	if ! openssl verify -crl_check -CAfile "$CA" -CRLfile "$WORK/crl.pem" \
		"$d/cert2.pem" >/dev/null 2>&1; then
		echo "FAIL CRL: renewed certificate does not verify"; fail=$((fail + 1)); return
	fi
	echo "ok   CRL from $url: openssl verify -crl_check refuses the revoked certificate"
	pass=$((pass + 1))
}
crl_check

# The ledger page on the admin listener, in headless Chromium, showing
# what the real clients above just did.
chrome() {
	timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking \
		--disable-component-update --disable-sync \
		--user-data-dir="$WORK/chrome-$1" --virtual-time-budget=10000 "${@:2}" \
		2>/dev/null
}
web_page() {
	local url tx dom art="$ROOT/build/artifacts"
	url="http://127.0.0.1:$(cat "$WORK/admin_port")/#token=$(cat "$WORK/var/admin.token")"
	tx=$(sqlite3 "$WORK/var/data/ledger.db" "SELECT transaction_id FROM operations
		WHERE csr_subject LIKE '%CN=micromdm-mscep' ORDER BY id LIMIT 1")
	dom=$(chrome 1 --dump-dom "$url&q=micromdm-mscep")
	case "$dom" in
	*'data-status="installed"'*'CN=micromdm-mscep'*) ;;
	*) echo "FAIL web page: no row for micromdm-mscep"; fail=$((fail + 1)); return ;;
	esac
	dom=$(chrome 2 --dump-dom "$url&q=micromdm-mscep&status=rejected")
	case "$dom" in
	*'CN=micromdm-mscep'*) echo "FAIL web page: the status filter lets a row through"
	   fail=$((fail + 1)); return ;;
	esac
	dom=$(chrome 3 --dump-dom "$url&tx=$(printf %s "$tx" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')")
	case "$dom" in
	*request_received*response_complete*) ;;
	*) echo "FAIL web page: no timeline for $tx"; fail=$((fail + 1)); return ;;
	esac
	mkdir -p "$art"
	chrome 4 --window-size=1280,900 --screenshot="$art/ledger-page.png" "$url" >/dev/null
	if [ ! -s "$art/ledger-page.png" ]; then
		echo "FAIL web page: no screenshot"; fail=$((fail + 1)); return
	fi
	echo "ok   ledger page in headless Chromium: rows, status filter, timeline; screenshot build/artifacts/ledger-page.png"
	pass=$((pass + 1))
}
web_page

# Manual approval on a second scepd: each client gets PENDING, an
# administrator approves with scepctl, and the client's next poll (a
# re-sent PKCSReq with the same transactionID, for both clients) gets the
# certificate.
MANUAL="$WORK/manual"
mkdir -p "$MANUAL"
"$BIN"/scepd -c conf/scepd.conf -o state_dir="$MANUAL/var" -o listen=127.0.0.1:0 \
	-o port_file="$MANUAL/port" -o challenge="$CHALLENGE" -o ca_key_bits=2048 \
	-o legacy_algorithms=yes -o approval=manual -o admin_listen=127.0.0.1:0 \
	>"$MANUAL/scepd.log" 2>&1 &
mpid=$!
for _ in $(seq 1 300); do [ -s "$MANUAL/port" ] && break; sleep 0.1; done
MPORT=$(cat "$MANUAL/port")
scepctl_m() {
	"$BIN"/scepctl -c conf/scepd.conf -o state_dir="$MANUAL/var" "$@"
}
# approve_when_pending CN: wait for the request, approve it; prints its txid.
approve_when_pending() {
	local tx=""
	for _ in $(seq 1 100); do
		tx=$(sqlite3 "$MANUAL/var/data/ledger.db" "SELECT transaction_id FROM
			pending WHERE state = 'pending' AND (', ' || subject || ',')
			LIKE '%, CN=$1,%'")
		[ -n "$tx" ] && break
		sleep 0.2
	done
	[ -n "$tx" ] && scepctl_m approve "$tx" >/dev/null && echo "$tx"
}
# polled NAME CERT TXID: PENDING first, then issued to the same txid.
polled() {
	local name=$1 cert=$2 tx=$3 seq
	seq=$(sqlite3 "$MANUAL/var/data/ledger.db" "SELECT group_concat(outcome, ',')
		FROM (SELECT outcome FROM operations WHERE transaction_id = '$tx'
		ORDER BY id)")
	if [ -z "$tx" ] || ! openssl verify -CAfile "$MANUAL/var/ca.pem" "$cert" \
		>/dev/null 2>&1 || [ "${seq%%,*}" != pending ] ||
		[ "${seq##*,}" != issued ]; then
		echo "FAIL $name: txid '$tx', ledger '$seq'"; fail=$((fail + 1)); return
	fi
	echo "ok   $name: $seq"
	pass=$((pass + 1))
}

d="$MANUAL/micromdm"
mkdir -p "$d"
(cd "$d" && timeout 150 scepclient -server-url "http://127.0.0.1:$MPORT/scep" \
	-challenge "$CHALLENGE" -cn micromdm-manual -private-key "$d/key.pem" \
	-certificate "$d/cert.pem" >"$d/log" 2>&1) &
mm=$!
tx=$(approve_when_pending micromdm-manual)
wait "$mm" || { echo "scepclient (manual) failed:"; tail -3 "$d/log"; }
polled "micromdm scepclient polling after approval" "$d/cert.pem" "$tx"

d="$MANUAL/certmonger"
mkdir -p "$d"/{config,requests,cas,local,tmp,out}
certmonger_session() {
	(cd "$d" && CERTMONGER_CONFIG_DIR="$d/config" CERTMONGER_REQUESTS_DIR="$d/requests" \
		CERTMONGER_CAS_DIR="$d/cas" CERTMONGER_LOCAL_CA_DIR="$d/local" \
		CERTMONGER_TMPDIR="$d/tmp" timeout 120 certmonger -n -L -P "$d/sock" \
		-c "sh $1") >>"$d/log" 2>&1
}
cat >"$d/request.sh" <<SCRIPT
getcert add-scep-ca -c manual -u "http://127.0.0.1:$MPORT/certsrv/mscep/mscep.dll" \
	-N "$MANUAL/var/ca.pem" &&
getcert request -c manual -f "$d/out/cert.pem" -k "$d/out/key.pem" \
	-N CN=certmonger-manual -L "$CHALLENGE" &&
for i in \$(seq 1 50); do getcert list | grep -q CA_WORKING && exit 0; sleep 0.2; done
exit 1
SCRIPT
# certmonger waits days between polls; it also polls when it starts, so
# stop it while pending and start it again after the approval.
printf 'for i in $(seq 1 50); do getcert list | grep -q MONITORING && exit 0; sleep 0.2; done; exit 1\n' >"$d/resume.sh"
certmonger_session "$d/request.sh" || echo "certmonger (manual) did not reach CA_WORKING"
tx=$(approve_when_pending certmonger-manual)
certmonger_session "$d/resume.sh" || { echo "certmonger (manual) did not finish:"; tail -5 "$d/log"; }
polled "certmonger polling after approval" "$d/out/cert.pem" "$tx"
kill "$mpid" 2>/dev/null && wait "$mpid" 2>/dev/null

echo "interop: $pass passed, $fail failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
