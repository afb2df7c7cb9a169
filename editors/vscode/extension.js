// Starts `flow lsp` for .flow files. Everything the editor shows beyond
// colours (diagnostics, hover, completion, navigation, hints) comes from it.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("flow");
  const command = config.get("server.path") || "flow";
  const serverOptions = {
    run: { command, args: ["lsp"] },
    debug: { command, args: ["lsp"] },
  };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "flow" }, { scheme: "untitled", language: "flow" }],
    initializationOptions: {
      debounceMs: config.get("server.debounceMs"),
      errorsUrl: config.get("server.errorsUrl") || undefined,
    },
  };
  client = new LanguageClient("flow", "flow language server", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("flow.restartServer", () => client.restart())
  );
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `Could not start \`${command} lsp\`: ${err.message}. Set "flow.server.path" to the flow binary.`
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
