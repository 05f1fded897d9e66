/**
 * Lists the longest functions of a source tree (TypeScript compiler API), for the code-shape table in
 * docs/ARCHITECTURE.md: `node dist/bench/tools/function-lengths.js src 15`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

interface Row { file: string; name: string; lines: number }

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name) return node.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return `${(node.parent as ts.ClassDeclaration).name?.getText(sf) ?? 'class'}.constructor`;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
  return '(anonymous)';
}

export function longestFunctions(root: string): Row[] {
  const rows: Row[] = [];
  for (const file of files(root)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
        if (node.body) {
          const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
          const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
          rows.push({ file: relative(process.cwd(), file), name: functionName(node, sf), lines: end - start + 1 });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return rows.sort((a, b) => b.lines - a.lines);
}

const [root = 'src', top = '15'] = process.argv.slice(2);
const rows = longestFunctions(root);
console.log(`| lines | function | file |\n|---:|---|---|`);
for (const r of rows.slice(0, Number(top))) console.log(`| ${r.lines} | ${r.name} | ${r.file} |`);
console.log(`\nfunctions over 80 lines: ${rows.filter((r) => r.lines > 80).length} of ${rows.length}`);
