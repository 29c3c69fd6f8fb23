// java.nio ServerSocketChannel (non-blocking, Selector) echo server and SocketChannel client
// with a non-blocking connect; run UNDER the shim.
// usage: java JNio server HOST PORT      prints address=, ready=1, per connection peer= local=
//        java JNio client HOST PORT INFILE OUTFILE   prints peer= local=, done=1
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.file.*;
import java.util.Iterator;

public class JNio {
    static void out(String k, Object v) { System.out.println(k + "=" + v); System.out.flush(); }

    static String hp(SocketAddress sa) {
        InetSocketAddress i = (InetSocketAddress) sa;
        return i.getAddress().getHostAddress() + ":" + i.getPort();
    }

    static final class Conn { ByteBuffer buf = ByteBuffer.allocate(65536); boolean eof; }

    public static void main(String[] a) throws Exception {
        String host = a[1];
        int port = Integer.parseInt(a[2]);
        InetSocketAddress addr = new InetSocketAddress(InetAddress.getByName(host), port);
        if (a[0].equals("server")) server(addr); else client(addr, a[3], a[4]);
    }

    static void server(InetSocketAddress addr) throws Exception {
        Selector sel = Selector.open();
        ServerSocketChannel ssc = ServerSocketChannel.open();
        ssc.configureBlocking(false);
        ssc.setOption(StandardSocketOptions.SO_REUSEADDR, true);
        ssc.bind(addr, 50);
        ssc.register(sel, SelectionKey.OP_ACCEPT);
        out("address", ssc.getLocalAddress());
        out("ready", 1);
        while (true) {
            sel.select();
            Iterator<SelectionKey> it = sel.selectedKeys().iterator();
            while (it.hasNext()) {
                SelectionKey k = it.next();
                it.remove();
                if (!k.isValid()) continue;
                if (k.isAcceptable()) {
                    SocketChannel sc = ssc.accept();
                    if (sc == null) continue;
                    sc.configureBlocking(false);
                    out("peer", hp(sc.getRemoteAddress()));
                    out("local", hp(sc.getLocalAddress()));
                    sc.register(sel, SelectionKey.OP_READ, new Conn());
                    continue;
                }
                SocketChannel sc = (SocketChannel) k.channel();
                Conn c = (Conn) k.attachment();
                try {
                    if (k.isReadable()) {
                        int n = sc.read(c.buf);
                        if (n < 0) c.eof = true;
                    }
                    c.buf.flip();
                    sc.write(c.buf);
                    c.buf.compact();
                    if (c.buf.position() > 0) {
                        k.interestOps(SelectionKey.OP_WRITE);
                    } else if (c.eof) {
                        k.cancel();
                        sc.close();
                        out("closedconn", 1);
                    } else {
                        k.interestOps(SelectionKey.OP_READ);
                    }
                } catch (IOException e) {
                    out("connerror", e);
                    k.cancel();
                    sc.close();
                }
            }
        }
    }

    static void client(InetSocketAddress addr, String infile, String outfile) throws Exception {
        byte[] data = Files.readAllBytes(Paths.get(infile));
        Selector sel = Selector.open();
        SocketChannel sc = SocketChannel.open();
        sc.configureBlocking(false);
        boolean done = sc.connect(addr);
        if (!done) {
            sc.register(sel, SelectionKey.OP_CONNECT);
            if (sel.select(20000) == 0) throw new IOException("connect timed out");
            sc.finishConnect();
        }
        sel.close();
        sc.configureBlocking(true);
        out("peer", hp(sc.getRemoteAddress()));
        out("local", hp(sc.getLocalAddress()));
        Thread w = new Thread(() -> {
            try {
                ByteBuffer b = ByteBuffer.wrap(data);
                while (b.hasRemaining()) sc.write(b);
                sc.shutdownOutput();
            } catch (IOException e) { out("writeerror", e); }
        });
        w.start();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(65536);
        while (sc.read(b) >= 0) {
            got.write(b.array(), 0, b.position());
            b.clear();
        }
        w.join();
        sc.close();
        Files.write(Paths.get(outfile), got.toByteArray());
        out("done", 1);
    }
}
