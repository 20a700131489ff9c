# Shared by the .deb maintainer scripts and the .rpm scriptlets: packaging/build.mjs pastes this
# file at the top of each (nothing is sourced at run time, so postrm still works once the package's
# files are gone). POSIX sh; every function is idempotent so that no script fails on a re-run.
# Units are not handled here: the .deb uses deb-systemd-helper/deb-systemd-invoke as
# dh_installsystemd writes them (scripts/postinst, prerm, postrm), the .rpm the systemd scriptlet
# macros (systemd_post and the others, hostward-agent.spec.in).

HW_UNITS="hostward-reader.service hostward-operator.service"
HW_USERS="hostward-reader hostward-operator"
HW_SUDOERS_SRC=/usr/share/hostward/sudoers
HW_SUDOERS=/etc/sudoers.d/hostward

hw_warn() {
    echo "hostward-agent: $*" >&2
}

hw_create_users() {
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    for user in $HW_USERS; do
        if ! getent passwd "$user" >/dev/null; then
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell "$nologin" --comment "hostward agent ($user)" "$user"
        fi
    done
    # The reader reads the journal and /var/log (SupplementaryGroups= in its unit says the same).
    for group in systemd-journal adm; do
        if getent group "$group" >/dev/null; then
            usermod --append --groups "$group" hostward-reader
        fi
    done
}

# Installs /etc/sudoers.d/hostward only once visudo accepts it; a copy that fails the check is
# never put where sudo reads it (sudo skips file names containing a dot, like the temporary one).
hw_install_sudoers() {
    if ! command -v visudo >/dev/null 2>&1; then
        hw_warn "visudo not found: $HW_SUDOERS not installed (install sudo, then reinstall hostward-agent)"
        return 0
    fi
    [ -d /etc/sudoers.d ] || install -d -m 0750 -o root -g root /etc/sudoers.d
    tmp=$(mktemp /etc/sudoers.d/.hostward.XXXXXX)
    cat "$HW_SUDOERS_SRC" >"$tmp"
    chown root:root "$tmp"
    chmod 0440 "$tmp"
    if visudo -cf "$tmp" >/dev/null; then
        mv -f "$tmp" "$HW_SUDOERS"
    else
        rm -f "$tmp"
        hw_warn "visudo rejected the sudoers line; $HW_SUDOERS not installed"
        return 1
    fi
}

# The helper it allows is gone with the package's files, so is the line.
hw_remove_sudoers() {
    rm -f "$HW_SUDOERS"
}

# The root helper's own state (its record of used approvals): root-only, and writable from inside
# the operator unit's sandbox through ReadWritePaths=, so it must exist before the unit starts.
# Created here, at install time, with the time the record begins (agent/src/helper/clock.ts: the
# helper refuses approvals signed before it as STALE, so an approval used before a purge cannot run
# again after a reinstall; created any later, an approval signed between the enrolment and the
# helper's first run would be refused). Kept as it is on upgrades.
hw_create_helper_state() {
    install -d -m 0755 -o root -g root /var/lib/hostward
    install -d -m 0700 -o root -g root /var/lib/hostward/helper
    if [ ! -e /var/lib/hostward/helper/clock.json ]; then
        install -d -m 0700 -o root -g root /var/lib/hostward/helper/nonces
        now=$(date +%s)
        (umask 077 && printf '{"v":1,"floor":%s,"highWater":%s}\n' "$now" "$now" >/var/lib/hostward/helper/clock.json.new) &&
            mv -f /var/lib/hostward/helper/clock.json.new /var/lib/hostward/helper/clock.json
    fi
}

# After a start or restart: an enrolled host whose agents do not come up says so, loudly, with
# where to look (the package manager's own output hides the units' errors).
hw_report_units() {
    [ -d /run/systemd/system ] || return 0
    [ -e /etc/hostward/tls/reader.key ] || return 0
    for unit in $HW_UNITS; do
        if systemctl --quiet is-enabled "$unit" 2>/dev/null && systemctl --quiet is-failed "$unit" 2>/dev/null; then
            hw_warn "$unit failed to start: run 'hostward-agent check' and see 'journalctl -u $unit'"
        fi
    done
}
