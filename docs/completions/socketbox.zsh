#compdef socketbox
# zsh completion for socketbox (sockswap's router). t-package checks that every flag of
# `socketbox --help` is named here.
if [[ $words[2] == socket-server || $words[2] == xsocket-server ]]; then
    _arguments \
        '--listen[the socket server'"'"'s Unix socket]:path:_files' \
        '--mode[permissions of the socket file]:octal mode:' \
        '*--allow-uid[a uid allowed to ask]:uid:' \
        '*--allow[an allowed family and port range]:tcp|udp\:PORTS:' \
        '--family[address families served]:family:(inet inet6 both)' \
        '--max-clients[clients served at once]:count:' \
        '--idle-timeout-ms[disconnect a client silent this long]:milliseconds:' \
        '--help[print usage]'
    return
fi
_arguments \
    '1::command:(check explain status socket-server xsocket-server inetd inetd-p relay send-receive-fd socket-query help)' \
    '-f[config file]:config file:_files' \
    '--config[config file]:config file:_files' \
    '-l[listen address]:address:' \
    '-p[listen port]:port:' \
    '-t[IPV6_TRANSPARENT (TPROXY)]' \
    '-F[IPV6_FREEBIND]' \
    '-R[clear SO_REUSEADDR]' \
    '-r[SO_REUSEPORT]' \
    '-s[inherited listening socket]:fd:' \
    '-u[run as user]:user:_users' \
    '-g[run as group]:group:_groups' \
    '-G[supplementary groups]:groups:' \
    '-k[do not change groups]' \
    '-x[chroot]:directory:_files -/' \
    '-S[send every connection to this A socket]:path:_files' \
    '-i[send every connection to this inherited fd]:fd:' \
    '-b[listen backlog]:backlog:' \
    '-U[expand path templates]' \
    '-P[take connections from a B server]:NR\:PATH:' \
    '-e[run a program with the socket in SKBOX_LISTEN_FD]' \
    '-d[daemonize after binding]' \
    '-z[clear IPV6_TRANSPARENT on each connection]' \
    '*--listen[another listener]:spec:' \
    '--format[config format]:format:(text toml json)' \
    '--status[status socket]:path:_files' \
    '--workers[accepting threads]:count:' \
    '--queue-len[per-target queue bound]:count:' \
    '--queue-timeout[queue wait limit in ms]:milliseconds:' \
    '--log-level[log level]:level:(off error warn info debug trace)' \
    '*--target-owner[owner uid for targets under a prefix]:PREFIX=UID:' \
    '--allow-new-privs[do not set no_new_privs]' \
    '--handover[hand the -S target a listener instead of each connection]:mode:(listener)' \
    '--check[load the config and exit]' \
    '--help[print usage]' \
    '--version[print the version]'
