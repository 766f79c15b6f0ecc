#!/bin/sh
# Runs inside the root filesystem (chroot) after the rootfs/ overlay was copied in: kernel modules and
# initramfs, the appliance's user and venv, the units to start, and the clean-up a read-only root needs.
set -eu
S=/tmp/image-build
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

echo "customize: kernel modules and initramfs"
kver=$(ls /lib/modules | sort -V | tail -1)
while read -r d; do rm -rf "/lib/modules/$kver/$d"; done < "$S/drop-modules"
depmod "$kver"
update-initramfs -c -k "$kver" >/dev/null 2>&1 || update-initramfs -u -k "$kver"
ln -sfn "boot/vmlinuz-$kver" /vmlinuz
ln -sfn "boot/initrd.img-$kver" /initrd.img

echo "customize: user and venv /opt/appliance"
getent group appliance >/dev/null || groupadd --system appliance
getent passwd appliance >/dev/null || useradd --system --gid appliance --home-dir /data/appliance \
    --no-create-home --shell /usr/sbin/nologin appliance
python3 -m venv /opt/appliance
PIP_CERT=$S/ca.crt /opt/appliance/bin/python -m pip install -q --no-index --find-links "$S/wheels" \
    -c "$S/constraints.txt" callcenter-appliance
# The compiled packet loop must be there (the image never builds it): fail the build otherwise.
ls /opt/appliance/lib/python3*/site-packages/appliance/media/_rtp_relay*.so >/dev/null
/opt/appliance/bin/python -c "import appliance.cli, appliance.app"
ln -sfn /opt/appliance/bin/appliance /usr/bin/appliance

echo "customize: units"
systemctl enable appliance.service appliance-mark-good.service appliance-ssh-keys.service \
    appliance-system-apply.service appliance-system.path appliance-reboot.path appliance-factory-reset.path \
    systemd-networkd.service nftables.service chrony.service ssh.service >/dev/null 2>&1
systemctl mask systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    e2scrub_reap.service systemd-networkd-wait-online.service >/dev/null 2>&1 || true
systemctl set-default multi-user.target >/dev/null

echo "customize: read-only root"
passwd -l root >/dev/null
install -d /data /boot/efi
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -rf /var/cache/apt/* /var/lib/apt/lists/* /var/log/*.log /root/.cache
