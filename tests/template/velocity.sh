#!/usr/bin/env bash
# Reference side of the VTL differential test: runs every *.vtl in a directory
# through real Apache Velocity 1.7 (see Runner.java for the fixed context and
# the output format).
#
#   bash tests/template/velocity.sh [corpus-dir]      (default: tests/template/corpus)
#
# Needs Debian packages: velocity (pulls libcommons-collections3-java and
# libcommons-lang-java) and default-jdk-headless (javac + java).
# Jar locations can be overridden with VELOCITY_JAR, COLLECTIONS_JAR, LANG_JAR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
corpus="${1:-$here/corpus}"

die() { echo "velocity.sh: $*" >&2; exit 1; }

find_jar() { # first existing file among the arguments
    local f
    for f in "$@"; do
        [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

hint="install with: apt-get install velocity default-jdk-headless"

velocity_jar="$(find_jar "${VELOCITY_JAR:-}" /usr/share/java/velocity-1.7.jar /usr/share/java/velocity.jar \
    /usr/share/maven-repo/org/apache/velocity/velocity/1.7/velocity-1.7.jar)" \
    || die "Apache Velocity 1.7 jar not found (Debian package 'velocity'); $hint"
collections_jar="$(find_jar "${COLLECTIONS_JAR:-}" /usr/share/java/commons-collections3.jar \
    /usr/share/java/commons-collections3-3.2.2.jar /usr/share/java/commons-collections.jar \
    $(ls /usr/share/java/commons-collections3-*.jar 2>/dev/null))" \
    || die "commons-collections 3 jar not found (Debian package 'libcommons-collections3-java', a dependency of 'velocity'); $hint"
lang_jar="$(find_jar "${LANG_JAR:-}" /usr/share/java/commons-lang.jar /usr/share/java/commons-lang-2.6.jar \
    $(ls /usr/share/java/commons-lang-2*.jar 2>/dev/null))" \
    || die "commons-lang 2 jar not found (Debian package 'libcommons-lang-java', a dependency of 'velocity'); $hint"

command -v javac >/dev/null 2>&1 || die "javac not found (Debian package 'default-jdk-headless'); $hint"
command -v java  >/dev/null 2>&1 || die "java not found (Debian package 'default-jdk-headless'); $hint"
[ -d "$corpus" ] || die "corpus directory not found: $corpus"

jars="$velocity_jar:$collections_jar:$lang_jar"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/velocity-runner.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

javac -nowarn -encoding UTF-8 -d "$tmp" -cp "$jars" "$here/Runner.java" \
    || die "javac failed compiling $here/Runner.java"
java -Dfile.encoding=UTF-8 -cp "$tmp:$jars" Runner "$corpus"
