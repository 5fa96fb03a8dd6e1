# bash completion for pvicctl
_pvicctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    --pool|-p) COMPREPLY=($(compgen -W "0 1 2 3 4" -- "$cur")); return ;;
    kvp) COMPREPLY=($(compgen -W "get set delete list" -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "--json --pool --help --version" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "status facts kvp time" -- "$cur"))
  fi
}
complete -F _pvicctl pvicctl
