#!/usr/bin/env bash
# sshd on a Unix socket (issue 10): `sshd -D -p P` under `in,tcp,port=P,path=...`, in its default
# mode (it re-executes itself per connection, the connection on fds 0/1: the converted socket
# must survive the exec) and with -r (no re-exec: its getsockopt(IP_OPTIONS) must be empty, as
# on TCP, or it drops the connection). In both modes:
#  - the log says "Connection from 127.0.0.1 port N on 127.0.0.1 port P";
#  - $SSH_CONNECTION in the session starts with 127.0.0.1;
#  - an authorized_keys key with from="127.0.0.1" logs in, one with from="10.0.0.0/8" is
#    refused ("not from a permitted host").
# The client is a native ssh with ProxyCommand `socat - UNIX-CONNECT:path`. sshd runs as root with
# its own configuration and host key in the test's directory.
. "$(dirname "$0")/lib.sh"
need /usr/sbin/sshd ssh ssh-keygen socat
need_artifacts
[ "$(id -u)" -eq 0 ] || fail "sshd needs root here"

P=$(free_port)
mkdir -p /run/sshd # sshd's privilege separation directory (the package makes it at boot)
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" || fail "ssh-keygen (host key)"
ssh-keygen -q -t ed25519 -N '' -f "$T/near" || fail "ssh-keygen (client key)"
ssh-keygen -q -t ed25519 -N '' -f "$T/far" || fail "ssh-keygen (client key)"
{
    printf 'from="127.0.0.1" %s\n' "$(cat "$T/near.pub")"
    printf 'from="10.0.0.0/8" %s\n' "$(cat "$T/far.pub")"
} >"$T/authorized_keys"
cat >"$T/sshd_config" <<EOF
Port $P
ListenAddress 127.0.0.1
HostKey $T/hostkey
PidFile none
AuthorizedKeysFile $T/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
LogLevel VERBOSE
EOF

ssh_as() { # KEY SOCKET COMMAND
    timeout 20 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR -i "$T/$1" \
        -o "ProxyCommand=socat - UNIX-CONNECT:$2" -p "$P" root@127.0.0.1 "$3"
}

for mode in reexec norexec; do
    S=$T/$mode.sock
    flags=()
    [ "$mode" = norexec ] && flags=(-r)
    bg "sshd-$mode" "${PRE[@]}" SOCKSWAP_RULES="in,tcp,port=$P,path=$S" \
        /usr/sbin/sshd -D -e -f "$T/sshd_config" "${flags[@]}"
    SRV=$BG_PID
    wait_unix_listening "$S" 15 "$SRV"
    assert_tcp_not_listening "$P"
    log=$T/sshd-$mode.err

    out=$(ssh_as near "$S" 'echo "conn=$SSH_CONNECTION"' 2>"$T/ssh-$mode.err") ||
        fail "$mode: the from=\"127.0.0.1\" key was refused: $(cat "$T/ssh-$mode.err")"
    case $out in
        "conn=127.0.0.1 "*" 127.0.0.1 $P") pass "$mode: \$SSH_CONNECTION is '${out#conn=}'" ;;
        *) fail "$mode: \$SSH_CONNECTION is '${out#conn=}', expected '127.0.0.1 N 127.0.0.1 $P'" ;;
    esac
    wait_grep "$log" "Connection from 127\.0\.0\.1 port [0-9]+ on 127\.0\.0\.1 port $P" 10 "$SRV" ||
        fail "$mode: no 'Connection from 127.0.0.1 port N' in the log"
    pass "$mode: sshd logs $(grep -om1 'Connection from 127.0.0.1 port [0-9]* on [^ ]* port [0-9]*' "$log")"
    assert_contains "$log" "Accepted publickey for root from 127.0.0.1 port" "$mode: key with from=\"127.0.0.1\" accepted"

    if out=$(ssh_as far "$S" 'echo logged-in' 2>"$T/ssh-far-$mode.err"); then
        fail "$mode: the from=\"10.0.0.0/8\" key logged in ($out)"
    fi
    wait_grep "$log" "not from a permitted host \(host=127\.0\.0\.1, ip=127\.0\.0\.1[,)]" 10 "$SRV" ||
        fail "$mode: no 'not from a permitted host' for the from=\"10.0.0.0/8\" key"
    pass "$mode: key with from=\"10.0.0.0/8\" refused (not from a permitted host, ip=127.0.0.1)"
    assert_not_contains "$log" "with IP opts" "$mode: no IP options reported"
    stop_bg "$SRV"
done
