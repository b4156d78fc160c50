/*
 * Runner -- reference side of the VTL differential test (Apache Velocity 1.7).
 *
 * Usage:  java -cp <classes-dir>:<velocity-1.7.jar>:<commons-collections3.jar>:<commons-lang.jar> \
 *              Runner <corpus-dir>
 *
 * Evaluates every "*.vtl" file in <corpus-dir> (sorted by file name, byte order of the
 * Java String) in ONE JVM / ONE VelocityEngine and prints one line per template:
 *
 *     <file name> TAB <status> TAB <output>
 *
 *   status = "ok"    -> output is the rendered text
 *   status = "error" -> output is "<exception class name>: <message>" (partial output discarded)
 *
 * The output field is escaped to fit one line:  backslash -> \\ , LF -> \n , CR -> \r , TAB -> \t
 * (nothing else is escaped).  Files are read as UTF-8, stdout is written as UTF-8.
 *
 * Engine configuration: a VelocityEngine with default settings except
 *     runtime.log.logsystem.class = org.apache.velocity.runtime.log.NullLogChute
 * Each template is rendered with engine.evaluate(context, writer, <file name>, reader),
 * using a FRESH VelocityEngine per template.  (With one shared engine, inline #macro
 * definitions are global by default and, since velocimacro.permissions.allow.inline.
 * to.replace.global is false, the first template to define e.g. #m wins for every later
 * template -- state would leak between corpus files.)
 *
 * FIXED CONTEXT (a FRESH VelocityContext per template; the Rust side mirrors this exactly):
 *
 *   $name    = "World"                                   (java.lang.String)
 *   $n       = 3                                         (java.lang.Integer)
 *   $f       = 2.5                                       (java.lang.Double)
 *   $t       = true                                      (java.lang.Boolean)
 *   $empty   = ""                                        (java.lang.String)
 *   $list    = ["a", "b", "c"]                           (java.util.ArrayList of String)
 *   $nums    = [1, 2, 3, 4, 5]                           (java.util.ArrayList of Integer)
 *   $map     = {"k1": "v1", "k2": "v2"}                  (java.util.LinkedHashMap, insertion order)
 *   $nested  = {"inner": {"x": 1, "list": ["p", "q"]}}   (LinkedHashMap -> LinkedHashMap{x: Integer 1,
 *                                                          list: ArrayList ["p","q"]})
 *   $nothing = NOT set (undefined)
 */
import java.io.File;
import java.io.PrintStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;

public class Runner {

    static VelocityContext freshContext() {
        VelocityContext ctx = new VelocityContext();
        ctx.put("name", "World");
        ctx.put("n", Integer.valueOf(3));
        ctx.put("f", Double.valueOf(2.5));
        ctx.put("t", Boolean.TRUE);
        ctx.put("empty", "");

        ArrayList<Object> list = new ArrayList<Object>();
        list.add("a"); list.add("b"); list.add("c");
        ctx.put("list", list);

        ArrayList<Object> nums = new ArrayList<Object>();
        for (int i = 1; i <= 5; i++) nums.add(Integer.valueOf(i));
        ctx.put("nums", nums);

        Map<String, Object> map = new LinkedHashMap<String, Object>();
        map.put("k1", "v1");
        map.put("k2", "v2");
        ctx.put("map", map);

        ArrayList<Object> pq = new ArrayList<Object>();
        pq.add("p"); pq.add("q");
        Map<String, Object> inner = new LinkedHashMap<String, Object>();
        inner.put("x", Integer.valueOf(1));
        inner.put("list", pq);
        Map<String, Object> nested = new LinkedHashMap<String, Object>();
        nested.put("inner", inner);
        ctx.put("nested", nested);
        // $nothing is deliberately not set.
        return ctx;
    }

    static VelocityEngine newEngine() throws Exception {
        VelocityEngine engine = new VelocityEngine();
        engine.setProperty("runtime.log.logsystem.class",
                "org.apache.velocity.runtime.log.NullLogChute");
        engine.init();
        return engine;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default: b.append(c);
            }
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: java Runner <corpus-dir>");
            System.exit(2);
        }
        File dir = new File(args[0]);
        File[] files = dir.listFiles((d, n) -> n.endsWith(".vtl"));
        if (files == null) {
            System.err.println("Runner: not a directory: " + dir);
            System.exit(2);
        }
        Arrays.sort(files, (a, b) -> a.getName().compareTo(b.getName()));

        PrintStream out = new PrintStream(System.out, false, "UTF-8");
        for (File file : files) {
            String src = new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
            String status;
            String text;
            try {
                VelocityEngine engine = newEngine();
                StringWriter w = new StringWriter();
                engine.evaluate(freshContext(), w, file.getName(), new StringReader(src));
                status = "ok";
                text = w.toString();
            } catch (Throwable e) {
                status = "error";
                text = e.getClass().getName() + ": " + e.getMessage();
            }
            out.print(file.getName() + "\t" + status + "\t" + escape(text) + "\n");
        }
        out.flush();
    }
}
