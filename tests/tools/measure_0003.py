#!/usr/bin/env python3
"""How long 0003 (the two-column CHECK, ALGORITHM=COPY) blocks writes to products: the figure in
docs/migrations.md.

    DB_SOCKET=/path/mysqld.sock tests/tools/measure_0003.py [PRODUCTS] [RUNS]

Makes a throwaway database (measure_0003, root over the socket), migrates it to 0002 with app/build/stockd,
fills PRODUCTS products (100,000 by default), then RUNS times: a writer updates one product after another
in a loop while `stockd migrate --to 3` runs; prints how long 0003 took and the longest write wait, then
drops the constraint for the next run. Drops the database at the end.
"""
import os
import subprocess
import sys
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STOCKD = os.environ.get("STOCKD_BIN", os.path.join(TOP, "app", "build", "stockd"))
SOCK = os.environ["DB_SOCKET"]
NAME = "measure_0003"
CLI = ["mariadb", "--no-defaults", "--socket=" + SOCK, "-uroot"]


def sql(text, db=NAME):
    return subprocess.run(CLI + [db, "-N", "-B", "-e", text], capture_output=True, text=True, check=True).stdout


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sql("DROP DATABASE IF EXISTS %s; CREATE DATABASE %s" % (NAME, NAME), db="mysql")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "STOCKD_")) and k != "LOG_FILE"}
    env.update(DB_SOCKET=SOCK, DB_USER="root", DB_PASSWORD="", DB_NAME=NAME)
    try:
        subprocess.run([STOCKD, "migrate", os.path.join(TOP, "sql"), "--to", "2"], env=env, check=True,
                       capture_output=True)
        sql("INSERT INTO products (sku, name, price_cents, stock, reserved_stock) SELECT CONCAT('SKU-', seq), "
            "CONCAT('Product number ', seq, ' with a longer name'), 1000 + seq, 100, seq % 3 FROM seq_1_to_" + str(n))
        for _ in range(runs):
            session = subprocess.Popen(CLI + [NAME, "-N", "-B", "--unbuffered"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
            waits, stop = [], threading.Event()

            def writer():
                i = 0
                while not stop.is_set():
                    i += 1
                    t = time.monotonic()
                    session.stdin.write("UPDATE products SET stock = stock + 1 WHERE id = %d; SELECT 'done';\n"
                                        % (1 + i % n))
                    session.stdin.flush()
                    while session.stdout.readline().strip() != "done":
                        pass
                    waits.append(time.monotonic() - t)
            th = threading.Thread(target=writer)
            th.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            subprocess.run([STOCKD, "migrate", os.path.join(TOP, "sql"), "--to", "3"], env=env, check=True,
                           capture_output=True)
            took = time.monotonic() - t0
            time.sleep(0.3)
            stop.set()
            th.join()
            session.stdin.close()
            session.wait()
            print("%d products: 0003 took %.2f s, longest write wait %.2f s (%d writes)"
                  % (n, took, max(waits), len(waits)))
            sql("ALTER TABLE products DROP CONSTRAINT products_reserved_le_stock; "
                "DELETE FROM schema_migrations WHERE version = 3")
    finally:
        sql("DROP DATABASE IF EXISTS %s" % NAME, db="mysql")


if __name__ == "__main__":
    main()
