<#
  Build the Windows agent bundle with PyInstaller (one folder, two executables) on a Windows
  machine or runner with Python 3.11 x64:

    powershell -ExecutionPolicy Bypass -File installers\windows\build-bundle.ps1 [-Python py] [-Out dist\windows]

  Output: <Out>\lantern-agent\ (lantern-agent.exe, lantern-agent-session.exe, _internal\...), the
  -Payload for build-msi.sh. The MSI itself is built with wixl on Linux (see windows-agent.yml).
#>
param(
    [string]$Python = "python",
    [string]$Out = "dist\windows",
    [string]$PyInstallerVersion = "6.11.1"
)
$ErrorActionPreference = "Stop"
$Repo = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Repo

$venv = Join-Path $Repo "build\winvenv"
& $Python -m venv $venv
if ($LASTEXITCODE -ne 0) { throw "venv failed" }
$py = Join-Path $venv "Scripts\python.exe"
& $py -m pip install --upgrade pip
# The agent's own dependencies only (no [collector] extra), plus PyInstaller.
& $py -m pip install . "pyinstaller==$PyInstallerVersion"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

& $py -m PyInstaller --noconfirm --clean --distpath $Out --workpath build\pyinstaller `
    installers\windows\lantern-agent.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# Smoke test: the bundle runs without the venv, and carries no collector.
$bundle = Join-Path $Out "lantern-agent"
& (Join-Path $bundle "lantern-agent.exe") --help
if ($LASTEXITCODE -ne 0) { throw "lantern-agent.exe --help failed" }
$state = Join-Path $env:TEMP "lantern-smoke-$PID"
& (Join-Path $bundle "lantern-agent.exe") --state-dir $state status --json
if ($LASTEXITCODE -ne 1) { throw "status of an unenrolled agent should exit 1, got $LASTEXITCODE" }
if (Get-ChildItem -Recurse $bundle -Filter "collector" -Directory) { throw "collector must not be bundled" }
Write-Output $bundle
