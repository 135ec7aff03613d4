# Sourced by the scripts that drive real programs: `need_debian PACKAGE:PROGRAM ...` installs,
# from Debian's packages, each package whose program is not found (on the PATH or in
# /usr/sbin), without letting the installation start it as a service on this machine.
need_debian() {
  local missing=() pkg_bin pkg program
  for pkg_bin in "$@"; do
    pkg=${pkg_bin%%:*}; program=${pkg_bin##*:}
    command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
