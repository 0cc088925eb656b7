# billing-batch: register the scheduler as a Windows Task Scheduler task (the same task as
# windows-task.xml, built with the ScheduledTasks cmdlets). Run in PowerShell as an administrator:
#   .\deploy\register-windows-task.ps1 -Exe C:\billing-batch\.venv\Scripts\billing-batch.exe `
#       -Config D:\Office\config.yaml -User OFFICE\billing
# It asks for the user's password (the task runs whether or not anyone is logged on).
# Remove it again with:  Unregister-ScheduledTask -TaskName "billing-batch schedule"
# See docs\running-unattended.md.
param(
    [Parameter(Mandatory = $true)][string]$Exe,     # billing-batch.exe in its virtual environment
    [Parameter(Mandatory = $true)][string]$Config,  # the office's config.yaml
    [Parameter(Mandatory = $true)][string]$User,    # a user that can write the office folder
    [string]$TaskName = "billing-batch schedule"
)
$ErrorActionPreference = "Stop"
if (-not (Test-Path $Exe)) { throw "billing-batch not found at $Exe" }
if (-not (Test-Path $Config)) { throw "no config.yaml at $Config" }
$office = Split-Path -Parent (Resolve-Path $Config)

# billing-batch schedule stays running; it is started at boot (after 2 minutes, so the network
# share and the database are up) and restarted if it ever dies.
$action = New-ScheduledTaskAction -Execute $Exe -Argument "schedule --config `"$Config`"" -WorkingDirectory $office
$trigger = New-ScheduledTaskTrigger -AtStartup
$trigger.Delay = "PT2M"
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -StartWhenAvailable `
    -MultipleInstances IgnoreNew -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 5)
$credential = Get-Credential -UserName $User -Message "Password of $User (the task runs as this user)"
Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Settings $settings `
    -User $User -Password $credential.GetNetworkCredential().Password `
    -Description "billing-batch scheduler: the nightly billing run and inbox receipts for staff." | Out-Null
Start-ScheduledTask -TaskName $TaskName
Write-Host "Registered and started '$TaskName'. Its log: $office\logs\billing-batch.log"
