import * as tf from '@tensorflow/tfjs';
import * as w from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { Worker as NodeWorker } from 'node:worker_threads';
import fs from 'node:fs'; import os from 'node:os';
import path from 'node:path';
const require = createRequire(import.meta.url);
const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
w.setWasmPaths(dir);
const texts = new WeakMap(); const urlText = new Map();
const RealBlob = globalThis.Blob;
class RecBlob extends RealBlob { constructor(parts, opts) { super(parts, opts); if (parts.every(p => typeof p === 'string')) texts.set(this, parts.join('')); } }
const realCreate = URL.createObjectURL;
URL.createObjectURL = (b) => { const u = realCreate.call(URL, b); if (texts.has(b)) urlText.set(u, texts.get(b)); return u; };
const preamble = "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os');var commonjsGlobal=globalThis;var __dirname="+JSON.stringify(dir)+";\n";
let mainFile;
class PWorker extends NodeWorker {
  constructor(url, opts) {
    if (typeof url === 'string' && urlText.has(url)) { super(urlText.get(url), { ...opts, eval: true }); }
    else super(url, opts);
  }
  postMessage(msg, transfer) {
    if (msg && msg.cmd === 'load' && msg.urlOrBlob instanceof RealBlob) {
      if (!mainFile) { mainFile = path.join(os.tmpdir(), `wit-tfjs-wasm-${process.pid}.js`); fs.writeFileSync(mainFile, preamble + texts.get(msg.urlOrBlob)); }
      msg = { ...msg, urlOrBlob: mainFile };
    }
    return super.postMessage(msg, transfer);
  }
}
Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => PWorker, set: () => {} });
globalThis.Blob = RecBlob;
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
w.setThreadsCount(2);
const realCpus=os.cpus; os.cpus=()=>{const c=realCpus.call(os); return [...c,...c];};
const t0=Date.now();
try { console.log(await tf.setBackend('wasm')); } catch(e) { console.log('err', e); }
globalThis.Blob = RealBlob; os.cpus=realCpus;
console.log(tf.getBackend(), w.getThreadsCount(), Date.now()-t0);
const a = tf.randomNormal([512,512]); const t1=Date.now(); for (let i=0;i<10;i++) tf.matMul(a,a).dataSync(); console.log('mm', (Date.now()-t1)/10);
console.log(tf.sum(tf.matMul(a,a)).dataSync(), tf.sum(tf.matMul(tf.transpose(a),a)).dataSync());

const m = tf.backend().wasm; console.log(Object.keys(m).filter(k=>/thread|PThread|pool/i.test(k)), m.PThread && m.PThread.runningWorkers.length, m.PThread&& m.PThread.unusedWorkers.length);
console.log(m.tfjs.getThreadsCount());
m.tfjs.initWithThreadsCount(2); console.log(m.tfjs.getThreadsCount());

console.log('shared', m.HEAPU8.buffer instanceof SharedArrayBuffer, Object.keys(m).length, typeof m._pthread_self);
process.exit(0);
