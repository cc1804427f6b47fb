"""Reports: figures composed across contexts for dashboards, bulletins and exports."""
