# The action script: the image's /bin/sh runs it in front of the container's
# process (sh -c SCRIPT apptainer-action COMMAND ARGS...). It applies the
# image's environment the way upstream Apptainer does, then executes
# COMMAND. It is POSIX sh, for busybox and dash as much as bash.
#
# The launcher passes, besides the container's environment:
#   __APPTAINER_ACTION    1: the environment is made for this script
#   __APPTAINER_KEEP      names of the variables forwarded from the caller:
#                         hidden from the image's scripts, restored after
#                         them where the image did not set them
#   __APPTAINER_FORCE     names of the caller's APPTAINERENV_* and --env
#                         variables, each value in __APPTAINER_FORCE_<name>:
#                         set after the image's scripts, over them
#   __APPTAINER_EVAL      1: a forced value is evaluated by the shell once,
#                         as upstream does ("$HOME/x" expands); empty
#                         (--no-eval): as it is
#   __APPTAINER_PATH, __APPTAINER_PREPEND_PATH, __APPTAINER_APPEND_PATH
#                         APPTAINERENV_PATH, _PREPEND_PATH, _APPEND_PATH
# Every name in the lists is a shell identifier, checked by the launcher.

for __apptainer_k in $__APPTAINER_KEEP; do
	eval "__apptainer_had_$__apptainer_k=\${$__apptainer_k+1} __apptainer_was_$__apptainer_k=\${$__apptainer_k-}"
	unset "$__apptainer_k"
done
# Some shells give PS1 a value of their own; the image's scripts and the
# default below decide it.
unset PS1

if [ -d /.singularity.d/env ]; then
	for __apptainer_f in /.singularity.d/env/*.sh; do
		if [ -f "$__apptainer_f" ]; then
			# shellcheck source=/dev/null
			. "$__apptainer_f"
		fi
	done
fi

__apptainer_v=
for __apptainer_k in $__APPTAINER_FORCE; do
	eval "__apptainer_v=\${__APPTAINER_FORCE_$__apptainer_k}"
	if [ -n "${__APPTAINER_EVAL-}" ]; then
		eval "export $__apptainer_k=\"$__apptainer_v\""
	else
		export "$__apptainer_k=$__apptainer_v"
	fi
	if [ "$__apptainer_k" = LD_LIBRARY_PATH ] && [ -n "$LD_LIBRARY_PATH" ]; then
		LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/.singularity.d/libs"
	fi
	unset "__APPTAINER_FORCE_$__apptainer_k"
done

if [ -n "${__APPTAINER_PREPEND_PATH-}" ]; then
	PATH="$__APPTAINER_PREPEND_PATH:$PATH"
fi
if [ -n "${__APPTAINER_APPEND_PATH-}" ]; then
	PATH="$PATH:$__APPTAINER_APPEND_PATH"
fi
if [ -n "${__APPTAINER_PATH-}" ]; then
	PATH="$__APPTAINER_PATH"
fi
export PATH

for __apptainer_k in $__APPTAINER_KEEP; do
	eval "__apptainer_set=\${$__apptainer_k+1}"
	if [ -z "$__apptainer_set" ]; then
		eval "if [ -n \"\$__apptainer_had_$__apptainer_k\" ]; then export $__apptainer_k=\"\$__apptainer_was_$__apptainer_k\"; fi"
	else
		eval "if [ -z \"\$$__apptainer_k\" ]; then unset $__apptainer_k; fi"
	fi
	unset "__apptainer_had_$__apptainer_k" "__apptainer_was_$__apptainer_k"
done

if [ -z "${PS1-}" ]; then
	export PS1="Apptainer> "
fi
if [ -z "${PROMPT_COMMAND-}" ]; then
	export PROMPT_COMMAND="PS1=\"$PS1\"; unset PROMPT_COMMAND"
fi
export APPTAINER_ENVIRONMENT="${APPTAINER_ENVIRONMENT:-/.singularity.d/env/91-environment.sh}"
export SINGULARITY_ENVIRONMENT="$APPTAINER_ENVIRONMENT"

unset __APPTAINER_ACTION __APPTAINER_KEEP __APPTAINER_FORCE __APPTAINER_EVAL __APPTAINER_PATH \
	__APPTAINER_PREPEND_PATH __APPTAINER_APPEND_PATH \
	__apptainer_k __apptainer_f __apptainer_v __apptainer_set

case "$1" in
*/*)
	if [ ! -e "$1" ]; then
		echo "FATAL:   $1: no such file or directory" >&2
		exit 255
	fi
	;;
*)
	# No /dev/null here: a container may have no /dev ("mount dev = no").
	if [ -z "$(command -v "$1")" ]; then
		echo "FATAL:   $1: executable file not found in \$PATH" >&2
		exit 255
	fi
	;;
esac
exec "$@"
