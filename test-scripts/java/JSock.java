// java.net.ServerSocket / Socket echo; run UNDER the shim.
// usage: java JSock server HOST PORT NCONN [spawn]
//          prints address=, localport=, ready=1, per connection peer= local=; with `spawn`, runs the
//          program `true` as a subprocess after binding (prints spawned=EXITCODE)
//        java JSock client HOST PORT INFILE OUTFILE   prints peer= local=, done=1
import java.io.*;
import java.net.*;
import java.nio.file.*;

public class JSock {
    static void out(String k, Object v) { System.out.println(k + "=" + v); System.out.flush(); }

    public static void main(String[] a) throws Exception {
        String host = a[1];
        int port = Integer.parseInt(a[2]);
        if (a[0].equals("server")) {
            int n = Integer.parseInt(a[3]);
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(InetAddress.getByName(host), port), 50);
            out("address", ss.getLocalSocketAddress());
            out("localport", ss.getLocalPort());
            if (a.length > 4 && a[4].equals("spawn")) {
                out("spawned", new ProcessBuilder("true").inheritIO().start().waitFor());
            }
            out("ready", 1);
            for (int i = 0; i < n; i++) {
                try (Socket c = ss.accept()) {
                    out("peer", c.getInetAddress().getHostAddress() + ":" + c.getPort());
                    out("local", c.getLocalAddress().getHostAddress() + ":" + c.getLocalPort());
                    c.setTcpNoDelay(true);
                    out("tcpnodelay", c.getTcpNoDelay());
                    InputStream in = c.getInputStream();
                    OutputStream os = c.getOutputStream();
                    byte[] buf = new byte[65536];
                    long total = 0;
                    int r;
                    while ((r = in.read(buf)) > 0) { os.write(buf, 0, r); total += r; }
                    os.flush();
                    out("echoed", total);
                }
            }
            ss.close();
            out("closed", 1);
        } else {
            byte[] data = Files.readAllBytes(Paths.get(a[3]));
            Socket s = new Socket();
            s.connect(new InetSocketAddress(InetAddress.getByName(host), port), 20000);
            s.setSoTimeout(20000);
            out("peer", s.getInetAddress().getHostAddress() + ":" + s.getPort());
            out("local", s.getLocalAddress().getHostAddress() + ":" + s.getLocalPort());
            Thread w = new Thread(() -> {
                try {
                    OutputStream os = s.getOutputStream();
                    os.write(data);
                    os.flush();
                    s.shutdownOutput();
                } catch (IOException e) { out("writeerror", e); }
            });
            w.start();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[65536];
            int r;
            while ((r = in.read(buf)) > 0) got.write(buf, 0, r);
            w.join();
            s.close();
            Files.write(Paths.get(a[4]), got.toByteArray());
            out("done", 1);
        }
    }
}
