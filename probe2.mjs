for (const m of process.argv.slice(2)) {
  const before = new Set(process.moduleLoadList);
  await import(m);
  const added = process.moduleLoadList.filter((x) => !before.has(x) && x.startsWith('NativeModule')).map(x=>x.slice(13));
  console.log(m, added.length, added.filter(a=>/^(cluster|child_process|dgram|worker_threads|crypto|tls|https|assert|zlib|dns|readline)$/.test(a)).join(' '));
}
