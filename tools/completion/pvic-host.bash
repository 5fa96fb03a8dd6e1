# bash completion for pvic-host
_pvic_host() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    --xen|--hyperv) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --pool) COMPREPLY=($(compgen -W "0 1 2 3 4" -- "$cur")); return ;;
    kvp) COMPREPLY=($(compgen -W "get set delete list" -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "--xen --hyperv --json --reboot --halt --hibernate --force --reason --timeout --pool --help" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "guests info kvp heartbeat time shutdown" -- "$cur"))
  fi
}
complete -F _pvic_host pvic-host
