# bash completion for socketbox (sockswap's router). t-package checks that every flag of
# `socketbox --help` is named here.
_socketbox() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        -f|-x|-S|--status|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "text toml json" -- "$cur")); return ;;
        --log-level) COMPREPLY=($(compgen -W "off error warn info debug trace" -- "$cur")); return ;;
        --handover) COMPREPLY=($(compgen -W "listener" -- "$cur")); return ;;
        --family) COMPREPLY=($(compgen -W "inet inet6 both" -- "$cur")); return ;;
        -u) COMPREPLY=($(compgen -u -- "$cur")); return ;;
        -g) COMPREPLY=($(compgen -g -- "$cur")); return ;;
        -l|-p|-s|-G|-i|-b|-P|--listen|--workers|--queue-len|--queue-timeout|--target-owner|--mode|--allow-uid|--allow|--max-clients|--idle-timeout-ms) return ;;
    esac
    if [ "${COMP_WORDS[1]}" = socket-server ] || [ "${COMP_WORDS[1]}" = xsocket-server ]; then
        COMPREPLY=($(compgen -W "--listen --mode --allow-uid --allow --family --max-clients --idle-timeout-ms --help" -- "$cur"))
        return
    fi
    if [ "$COMP_CWORD" -eq 1 ] && [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -W "check explain status socket-server xsocket-server inetd inetd-p relay send-receive-fd socket-query help" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -W "-f -l -p -t -F -R -r -s -u -g -G -k -x -S -i -b -U -P -e -d -z
        --listen --format --status --workers --queue-len --queue-timeout --log-level
        --target-owner --allow-new-privs --handover --config --check --help --version" -- "$cur"))
}
complete -F _socketbox socketbox
