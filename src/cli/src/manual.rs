//! `sockswap completions SHELL` and the sockswap(1) manual page, both generated from the same clap
//! definition that `--help` prints, so neither can drift from the options the program takes.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

/// Sections clap cannot know: written once here, appended after the generated ones.
const EXTRA_SECTIONS: &str = r#".SH RULES
A rule is a comma\-separated list: an optional direction (\fBin\fR for bind, \fBout\fR for
connect), an optional type (\fBtcp\fR, \fBudp\fR), optional matches (\fBaddr=\fIADDRESS\fR[/\fILEN\fR],
\fBport=\fIN\fR[\-\fIM\fR], \fBfrom\-unix=\fIGLOB\fR, \fBfrom\-abstract=\fIGLOB\fR), then one action:
\fBpath=\fITEMPLATE\fR, \fBabstract=\fITEMPLATE\fR, \fBreject\fR[=\fIERRNO\fR], \fBblackhole\fR,
\fBignore\fR, \fBsystemd\fR[=\fINAME\fR], \fBsocketbox=\fITEMPLATE\fR, \fBsocketbox\-b=\fIAPI\fR:\fISLOT\fR,
\fBnetns=\fISERVER\fR, \fBvsock=\fICID\fR[:\fIPORT\fR] or \fBhybrid\-vsock=\fIPATH\fR[:\fIPORT\fR].
Templates expand \fB%a\fR (address), \fB%p\fR (port), \fB%t\fR (tcp or udp) and \fB%%\fR.
The first rule that matches a call decides it; a call no rule matches stays TCP/IP.
The whole language is in \fBsockswap\-rules\fR(5).
.SH ENVIRONMENT
.TP
\fBSOCKSWAP_RULES\fR
Rules separated by \fB;\fR or newlines; \fB#\fR after a blank starts a comment.
\fBrun\fR sets it from \fB\-r\fR, \fB\-f\fR and \fB\-F\fR (ip2unix's YAML/JSON rule lists are
translated to this syntax), replacing the inherited \fBSOCKSWAP_RULES\fR and
\fBSOCKSWAP_RULES_FILE\fR.
.TP
\fBSOCKSWAP_RULES_FILE\fR
A file of rules in the same grammar.
.TP
\fBSOCKSWAP_LOG\fR
What the library writes to stderr: off, error, warn (default), info, debug, trace.
.TP
\fBSOCKSWAP_LIB\fR
The library \fBrun\fR preloads, when \fB\-\-lib\fR is not given.
.TP
\fBUNSOCK_DIR\fR, \fBUNSOCK_ADDR\fR, \fBUNSOCK_PORT\fR, \fBUNSOCK_MODE\fR, \fBUNSOCK_BLOCK_INET\fR, \fBUNSOCK_BLOCK_INET6\fR, \fBUNSOCK_ACCEPT_CONVERT_ALL\fR, \fBUNSOCK_ACCEPT_CONVERT_VSOCK\fR
unsock's variables, with unsock's meaning.
.SH EXIT STATUS
\fBrun\fR exits with the program's status.
It exits 2 when the command line or the rules are invalid (nothing is started), 126 when the
program cannot be executed and 127 when it is not found.
A program started with an invalid configuration in its environment (set by hand rather than
through \fBsockswap run\fR) is stopped by the library before \fBmain\fR with status \fB121\fR and
one line on stderr naming the variable and the token.
\fBcheck\fR, \fBrun \-c\fR and \fBexplain\fR exit 0 when the rules are valid, 2 otherwise.
.SH EXAMPLES
Serve a TCP program on a Unix socket (the port never opens):
.PP
.nf
.RS
sockswap run \-r 'in,tcp,port=8080,path=/run/app/http.sock,mode=0660' \-\- node server.js
.RE
.fi
.PP
Point a TCP client at a Unix socket:
.PP
.nf
.RS
sockswap run \-r 'out,addr=127.0.0.1,port=6379,path=/run/redis/redis.sock' \-\- my\-app
.RE
.fi
.PP
Run with ip2unix's rules and rule files unchanged (\fB\-c\fR checks, \fB\-p\fR prints them in sockswap's syntax):
.PP
.nf
.RS
sockswap run \-r systemd \-r reject=EPERM \-f rules.yaml \-p \-\- ./server
.RE
.fi
.PP
Say what a rule set does with a bind to port 8080:
.PP
.nf
.RS
sockswap explain \-r 'in,port=8080,path=/run/app/%p.sock' 127.0.0.1 8080 in
.RE
.fi
.SH FILES
.TP
\fI/usr/lib/sockswap/libsockswap.so\fR
The library \fBrun\fR preloads (found relative to the \fBsockswap\fR binary: \fI../lib/sockswap/\fR).
.SH SEE ALSO
\fBsockswap\-rules\fR(5), \fBsocketbox\fR(8), \fBld.so\fR(8), \fBunix\fR(7)
"#;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: Shell) {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(shell, &mut cmd, "sockswap", &mut std::io::stdout());
}

/// Plain text as a roff line: no leading control character, backslashes and hyphens escaped.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    match s.starts_with(['.', '\'']) {
        true => format!("\\&{s}"),
        false => s,
    }
}

/// A section for the command `parent sub`: its synopsis, description and options as its own
/// --help shows them (headings demoted to subsections), then one for each of its subcommands.
fn command_sections(out: &mut Vec<u8>, sub: &clap::Command, parent: &str) -> std::io::Result<()> {
    let name = format!("{parent} {}", sub.get_name());
    writeln!(out, ".SH \"COMMAND: {}\"", name.to_uppercase())?;
    let mut part = Vec::new();
    let sub_man = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
    sub_man.render_synopsis_section(&mut part)?;
    sub_man.render_description_section(&mut part)?;
    sub_man.render_options_section(&mut part)?;
    out.extend_from_slice(
        String::from_utf8_lossy(&part)
            .replace(".SH ", ".SS ")
            .as_bytes(),
    );
    for nested in sub
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        command_sections(out, nested, &name)?;
    }
    Ok(())
}

/// Writes sockswap(1) in roff: clap's name, synopsis, description and options, each
/// subcommand's options, then the sections above.
pub fn manpage() -> std::io::Result<()> {
    let cmd = crate::Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let shown = || cmd.get_subcommands().filter(|s| !s.is_hide_set());
    writeln!(out, ".SH COMMANDS")?;
    for sub in shown() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            sub.get_name(),
            roff_text(&about)
        )?;
    }
    for sub in shown() {
        command_sections(&mut out, sub, "sockswap")?;
    }
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    man.render_version_section(&mut out)?;
    std::io::stdout().write_all(&out)
}
