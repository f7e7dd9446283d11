#!/usr/bin/env bash
# The paper's approval story on a throw-away local Anvil, narrated: five hospitals, a patient,
# sealed health and bill details, votes, an approval and a rejection. Installs what it needs
# (tools/setup), builds hrm, and always stops the node it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tools/setup --without-geth
cargo build --quiet --locked
hrm=target/debug/hrm

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.tools/bin/anvil --host 127.0.0.1 --port "$port" >"$work/anvil.log" 2>&1 &
anvil_pid=$!
trap 'kill $anvil_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "Listening on" "$work/anvil.log" && break; sleep 0.1; done

export HRM_HOME="$work/home" HRM_RPC_URL="http://127.0.0.1:$port"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The consortium admin (dev:0) deploys HealthRecords"
$hrm --from dev:0 deploy
step "Five hospitals join and publish their keys; the patient (dev:6) publishes theirs"
names=("St Mary" "Hope" "Lakeside" "Northgate" "Riverside")
for i in 1 2 3 4 5; do
  $hrm --from dev:0 hospital register "dev:$i" --name "${names[$((i-1))]}" >/dev/null
  $hrm --from "dev:$i" key publish >/dev/null
done
$hrm --from dev:6 key publish >/dev/null
$hrm account label patient 0x976EA74026E726554dB657fA54763abd0C3a0aa9 >/dev/null  # dev:6
$hrm hospital list
step "St Mary (dev:1) names its four supporting hospitals"
$hrm --from dev:1 hospital supporting set dev:2 dev:3 dev:4 dev:5
step "St Mary submits the patient's health details and a bill"
cat >"$work/visit.json" <<'JSON'
{ "recorded_at": "2026-11-02",
  "readings": { "pregnancies": 6, "glucose": 148, "blood_pressure": 72, "skin_thickness": 35,
                "insulin": 0, "bmi": 33.6, "diabetes_pedigree": 0.627, "age": 50 },
  "notes": "fasting sample" }
JSON
$hrm --from dev:1 submit-health --patient patient --file "$work/visit.json"
$hrm --from dev:1 submit-bill --patient patient --issued-at 2026-11-02 --currency USD \
  --item "Consultation=120.00" --item "HbA1c test=45.50" --item "Glucose meter=30.25" --total 195.75
step "The patient opens entry 1; an outsider (dev:7) sees only that it is sealed"
$hrm --from dev:6 show 1
$hrm --from dev:7 show 1
step "All four supporting hospitals and the patient approve entry 1"
for voter in dev:2 dev:3 dev:4 dev:5; do $hrm --from "$voter" vote 1 --approve >/dev/null; echo "$voter approved"; done
$hrm --from dev:6 vote 1 --approve
step "Hope approves the bill, Lakeside rejects it: one rejection rejects"
$hrm --from dev:2 vote 2 --approve >/dev/null; echo "dev:2 approved"
$hrm --from dev:3 vote 2 --reject
step "Status"
$hrm status
