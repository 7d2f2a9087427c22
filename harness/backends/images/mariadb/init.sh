#!/bin/sh
# Build-time initialisation of the MariaDB image (run by its Dockerfile, as root, never at run
# time): checks the server's major version, creates a fresh data directory and opens root@'%'.
set -eu
want="$1"
found="$(mariadbd --version)"
case "$found" in
    *" Ver ${want}."*) ;;
    *) echo "expected MariaDB ${want}, found: $found" >&2; exit 1 ;;
esac

# Debian's postinst leaves a data directory set up for socket-only root; start from a clean one.
rm -rf /var/lib/mysql
install -d -o mysql -g mysql -m 750 /var/lib/mysql
install -d -o mysql -g mysql -m 755 /run/mysqld
mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null

sock=/run/mysqld/init.sock
mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking --socket="$sock" \
    --log-error=/tmp/mariadb-init.err &
pid=$!
tries=0
until mariadb-admin --socket="$sock" --user=root ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
        cat /tmp/mariadb-init.err >&2
        echo "mariadbd did not come up for initialisation within 60 s" >&2
        exit 1
    fi
    sleep 0.2
done

# root keeps socket login (the install default) and gains an empty password over TCP, from
# localhost and from any other host (connections through a published port come from the bridge).
mariadb --socket="$sock" --user=root <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER 'root'@'%' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
mariadb-admin --socket="$sock" --user=root shutdown
wait "$pid"
rm -f /tmp/mariadb-init.err
