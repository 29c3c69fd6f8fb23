// com.sun.net.httpserver.HttpServer and HttpURLConnection; run UNDER the shim.
// usage: java JHttp server HOST PORT BODYFILE
//          GET /body -> BODYFILE; GET /req -> "remote=ADDR:PORT local=ADDR:PORT host=HOSTHEADER"
//          prints address=, ready=1
//        java JHttp client HOST PORT OUTFILE
//          GET /body into OUTFILE (prints status=), then GET /req printed as req=, then done=1
import com.sun.net.httpserver.*;
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;

public class JHttp {
    static void out(String k, Object v) { System.out.println(k + "=" + v); System.out.flush(); }

    static String hp(InetSocketAddress i) { return i.getAddress().getHostAddress() + ":" + i.getPort(); }

    static void reply(HttpExchange ex, byte[] b) throws IOException {
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream os = ex.getResponseBody()) { os.write(b); }
    }

    public static void main(String[] a) throws Exception {
        String host = a[1];
        int port = Integer.parseInt(a[2]);
        if (a[0].equals("server")) {
            byte[] body = Files.readAllBytes(Paths.get(a[3]));
            HttpServer srv = HttpServer.create(new InetSocketAddress(InetAddress.getByName(host), port), 50);
            srv.createContext("/body", ex -> reply(ex, body));
            srv.createContext("/req", ex -> reply(ex, ("remote=" + hp(ex.getRemoteAddress()) + " local="
                    + hp(ex.getLocalAddress()) + " host=" + ex.getRequestHeaders().getFirst("Host"))
                    .getBytes(StandardCharsets.UTF_8)));
            srv.start();
            out("address", srv.getAddress());
            out("ready", 1);
        } else {
            HttpURLConnection c = (HttpURLConnection) new URL("http://" + host + ":" + port + "/body")
                    .openConnection(Proxy.NO_PROXY);
            c.setConnectTimeout(20000);
            c.setReadTimeout(20000);
            out("status", c.getResponseCode());
            try (InputStream in = c.getInputStream()) { Files.write(Paths.get(a[3]), in.readAllBytes()); }
            c.disconnect();
            HttpURLConnection r = (HttpURLConnection) new URL("http://" + host + ":" + port + "/req")
                    .openConnection(Proxy.NO_PROXY);
            r.setConnectTimeout(20000);
            r.setReadTimeout(20000);
            try (InputStream in = r.getInputStream()) {
                out("req", new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("\n", "\\n"));
            }
            out("done", 1);
        }
    }
}
