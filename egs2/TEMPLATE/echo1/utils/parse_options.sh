#!/usr/bin/env bash
# Copyright 2026 espnet-echo developers
#  Apache 2.0
# Kaldi-style option parsing, written for espnet-echo (no Kaldi checkout needed).
# Source it after defining defaults: every `--foo-bar value` or `--foo_bar value` sets the
# existing shell variable foo_bar; `--config file` sources a file of `name=value` lines
# first. Unknown options are an error; positional arguments are left in "$@".
# `--help` (or `-h`) prints the script's $help_message, as ESPnet's and Kaldi's
# parse_options.sh do (to stderr), and exits 0.
while true; do
    [ -z "${1:-}" ] && break
    case "$1" in
        --help|-h)
            if [ -n "${help_message:-}" ]; then
                printf '%s\n' "${help_message}" >&2
            else
                echo "Usage: $0 [options]; no help message: see the variables at the top of $0" >&2
            fi
            exit 0 ;;
        --config)
            [ -f "${2:-}" ] || { echo "$0: --config: no such file '${2:-}'" >&2; exit 1; }
            # shellcheck disable=SC1090
            . "$2"; shift 2 ;;
        --*=*)
            echo "$0: use '--name value', not '$1'" >&2; exit 1 ;;
        --*)
            name=$(echo "${1#--}" | tr '-' '_')
            if ! declare -p "${name}" >/dev/null 2>&1; then
                echo "$0: invalid option $1" >&2; exit 1
            fi
            [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
            printf -v "${name}" '%s' "$2"
            shift 2 ;;
        *) break ;;
    esac
done
true
