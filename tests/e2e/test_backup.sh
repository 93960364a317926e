#!/bin/bash
# Case functions are called indirectly, through run_case:
# shellcheck disable=SC2317
# berth backup and berth fsck around a running berthd: a backup taken while 8
# clients push (backup_load.py, one python process) restores, by copying it
# to a new data directory, to a store that berth fsck passes and that a new
# berthd serves: every image acknowledged before the backup began, with
# manifests and blobs hashing to their digests (and skopeo's copy, which
# verifies them too), none sent after it ended. fsck refuses a served store
# and reports planted damage in the CLI's formats.
#
#   E2E_TARGET=berth BERTHD=build/server/berthd BERTH_CLI=build/cli/berth tests/e2e/test_backup.sh
#   BACKUP_ROUNDS=N: rounds each client pushes at least (3; the sanitizer build runs 2)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need /usr/bin/aws /usr/bin/python3 /usr/bin/skopeo jq cmp
is_berth || skip_all "berth backup and berth fsck are Berth's own"
[[ -n ${BERTH_CLI:-} && -x ${BERTH_CLI:-} ]] || { echo "needs BERTH_CLI=/path/to/berth" >&2; exit 2; }

E2E_BERTH_AUTH=1 start_registry
client_env
DATA=$REGISTRY_DATA
# one registry password for every client here: the restored berthd accepts it only
# if the copy's token key opens with the copied master.key
BERTH_PASSWORD=$("${AWS[@]}" ecr get-login-password)
export BERTH_PASSWORD
DEST=$E2E_TMP/backup
RESTORED=$E2E_TMP/restored

t_backup_under_pushes() {
    run python3 "$E2E_DIR/backup_load.py" push "$BASE" "$BERTH_CLI" "$DATA" "$DEST" "$E2E_TMP/acked.json"
    cat "$E2E_TMP/cmd.out"
    expect_success
    expect_eq "images acknowledged while the backup ran" yes \
        "$(jq '[.[] | select(.when == "during")] | length > 0' "$E2E_TMP/acked.json" | sed 's/true/yes/')"
}

t_fsck_refuses_a_served_store() {
    run "$BERTH_CLI" fsck "$DATA"
    expect_exit 2
    expect_stderr_match 'in use by a running berthd'
}

t_backup_refuses_an_existing_dest() {
    run "$BERTH_CLI" backup --data "$DATA" "$DEST"
    expect_exit 2
    expect_stderr_match 'a backup goes into a new directory'
    run "$BERTH_CLI" backup
    expect_exit 2
}

t_stopped_store_and_restored_copy_pass_fsck() {
    run "$BERTH_CLI" fsck "$DATA"
    expect_exit 0
    expect_stderr_match ': 0 problems$'
    cp -a "$DEST" "$RESTORED"
    run "$BERTH_CLI" fsck "$RESTORED"
    expect_exit 0
    expect_eq "fsck's report lines" 0 "$(wc -l <"$E2E_TMP/cmd.out")"
    expect_eq "master.key's mode" 600 "$(stat -c %a "$RESTORED/master.key")"
    cmp -s "$DATA/master.key" "$RESTORED/master.key" || fail_diff "master.key" "the store's" "another"
    cmp -s "$DATA/admin-credentials" "$RESTORED/admin-credentials" || fail_diff "admin-credentials" "the store's" "another"
}

t_restored_copy_serves_every_acknowledged_image() {
    local port log
    port=$(free_port)
    log=$E2E_TMP/restored.log
    "$BERTHD" --listen "127.0.0.1:$port" --data "$RESTORED" >"$log" 2>&1 &
    RESTORED_PID=$!
    trap 'kill "$RESTORED_PID" 2>/dev/null || true' EXIT
    wait_http "http://127.0.0.1:$port/v2/" "$RESTORED_PID" || { cat "$log"; exit 1; }
    run python3 "$E2E_DIR/backup_load.py" verify "http://127.0.0.1:$port" "$E2E_TMP/acked.json"
    cat "$E2E_TMP/cmd.out" "$E2E_TMP/cmd.err"
    expect_exit 0
    local tag
    tag=$(jq -r '[.[] | select(.when == "before" and (.blobs | length) == 3)][0] | .repo + ":" + .tag' "$E2E_TMP/acked.json")
    run "${SKOPEO[@]}" copy --src-tls-verify=false --src-creds "AWS:$BERTH_PASSWORD" "docker://127.0.0.1:$port/$tag" \
        "dir:$E2E_TMP/pulled"
    expect_success
    kill "$RESTORED_PID"
    wait "$RESTORED_PID" || true
}

t_fsck_reports_planted_damage() {
    local copy=$E2E_TMP/damaged f
    cp -a "$DEST" "$copy"
    f=$(find "$copy/blobs" -type f | head -1)
    printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
    : >"$copy/blobs/sha256/stray"
    run "$BERTH_CLI" fsck "$copy"
    expect_exit 1
    grep -q "^blob-digest - sha256:$(basename "$f"): " "$E2E_TMP/cmd.out" ||
        fail_diff "a blob-digest line" "blob-digest - sha256:$(basename "$f"): ..." "$(head -3 "$E2E_TMP/cmd.out")"
    run "$BERTH_CLI" fsck --json "$copy"
    expect_exit 1
    expect_eq "problems by kind" '["blob-digest","orphan-file"]' "$(jq -sc 'map(.kind) | sort' "$E2E_TMP/cmd.out")"
}

run_case "berth backup copies the store while 8 clients push" t_backup_under_pushes
run_case "berth fsck refuses a data directory a berthd serves (exit 2)" t_fsck_refuses_a_served_store
run_case "berth backup refuses a DEST that exists, and a missing DEST (exit 2)" t_backup_refuses_an_existing_dest
kill "$REGISTRY_PID"
wait "$REGISTRY_PID" || true
REGISTRY_PID=""
run_case "the stopped store and the restored copy pass berth fsck; master.key is kept 0600" t_stopped_store_and_restored_copy_pass_fsck
run_case "berthd on the restored copy serves every image acknowledged before the backup, intact, and none sent after it" \
    t_restored_copy_serves_every_acknowledged_image
run_case "berth fsck reports a flipped byte in a blob file and an orphan file, as text and as JSON (exit 1)" t_fsck_reports_planted_damage
finish
