"""Editor client tests: Neovim (headless, over RPC) and the VS Code extension, against scripted or real servers."""
